"""The one pure-ASGI middleware: request id, metrics and access log, API-key authentication,
the `OpenAI-Project` check, per-key rate limits and the audit actor, in one pass per request."""

from __future__ import annotations

import re
import secrets
import time

from prometheus_client.metrics import Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from filedock.components import Components
from filedock.errors import FiledockError, MismatchedProject
from filedock.logs import request_id_var
from filedock.services import audit
from filedock.services.keys import Principal
from filedock.web.middleware.limits import UPLOAD_PATHS, limit_headers, rate_limited
from filedock.web.middleware.observability import RequestObserver, is_download, is_upload
from filedock.web.responses import error_response

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REALM = 'Bearer realm="filedock"'


def _counting(receive: Receive, counter: Counter) -> Receive:
    """`receive`, adding the size of each body chunk to `counter`."""

    async def receive_counted() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            counter.inc(len(message.get("body", b"")))
        return message

    return receive_counted


class RequestMiddleware:
    """Runs around the router for every HTTP request.

    - `x-request-id`: a sane incoming one is echoed, else one is made; it goes on every response,
      into the log context and into `scope["state"]["request_id"]`.
    - Every request is counted and timed by route template and status (and logged when the
      access log is on); upload and download bytes are counted as they pass.
    - Under /v1: `Authorization: Bearer <key>` (401 otherwise), the `OpenAI-Project` header must
      name the key's project, the key's rate limits are taken (429 when spent) and their
      `x-ratelimit-*` headers go on the response; the principal goes in
      `scope["state"]["principal"]` and the audit actor is set for the services.
    """

    def __init__(self, app: ASGIApp, components: Components, observer: RequestObserver) -> None:
        self.app = app
        self.components = components
        self.observer = observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        incoming = authorization = project = None
        for name, value in scope["headers"]:  # the first of repeated headers counts
            if name == b"x-request-id" and incoming is None:
                incoming = value.decode("latin-1")
            elif name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"openai-project" and project is None:
                project = value.decode("latin-1")
        request_id = (
            incoming
            if incoming and _REQUEST_ID.fullmatch(incoming)
            else "req_" + secrets.token_hex(16)
        )
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        log_token = request_id_var.set(request_id)
        extra = [(b"x-request-id", request_id.encode("latin-1"))]  # on every response
        method: str = scope["method"]
        path: str = scope["path"]
        metrics = self.observer.metrics
        download = is_download(method, path)
        status = 500

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *extra]
            elif download and status < 300 and message["type"] == "http.response.body":
                metrics.downloaded_bytes.inc(len(message.get("body", b"")))
            await send(message)

        upload = is_upload(method, path)
        if upload:
            metrics.uploads_in_flight.inc()
            receive = _counting(receive, metrics.uploaded_bytes)
        actor_token = None
        try:
            if path.startswith("/v1"):
                try:
                    principal = await self._admit(method, path, authorization, project, extra)
                except FiledockError as exc:
                    await error_response(exc)(scope, receive, send_observed)
                    return
                state["principal"] = principal
                actor_token = audit.set_actor(
                    audit.Actor(
                        "http",
                        request_id=request_id,
                        project_id=principal.project_id,
                        key_prefix=principal.key_prefix,
                    )
                )
            await self.app(scope, receive, send_observed)
        finally:
            if actor_token is not None:
                audit.reset_actor(actor_token)
            if upload:
                metrics.uploads_in_flight.dec()
            self.observer.record(scope, status, time.perf_counter() - start)
            request_id_var.reset(log_token)

    async def _admit(
        self,
        method: str,
        path: str,
        authorization: str | None,
        project: str | None,
        extra_headers: list[tuple[bytes, bytes]],
    ) -> Principal:
        """The caller of a /v1 request, its rate-limit headers added to `extra_headers`; raises
        the 401, the OpenAI-Project 401 or the 429 to answer instead."""
        components = self.components
        try:
            principal = await components.keys.authenticate(authorization)
            if project is not None and project.strip() != principal.project_id:
                raise MismatchedProject("OpenAI-Project header should match project for API key")
        except FiledockError as exc:
            exc.headers.setdefault("WWW-Authenticate", REALM)
            raise
        per_minute, uploads_per_minute = await components.projects.rate_limits(principal.project_id)
        is_upload_request = method == "POST" and path in UPLOAD_PATHS
        decision = await components.limiter.acquire(
            principal.key_id, per_minute, uploads_per_minute if is_upload_request else None
        )
        extra_headers += limit_headers(decision)
        # Which project the key belongs to, as api.openai.com tells it (the dashboard reads it).
        extra_headers.append((b"openai-project", principal.project_id.encode()))
        if not decision.allowed:
            raise rate_limited(decision)
        return principal
