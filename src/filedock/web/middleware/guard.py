"""Pure ASGI middleware after authentication: the `OpenAI-Project` check, per-key rate limits
with `x-ratelimit-*` headers on every authenticated /v1 response, and the audit actor."""

from __future__ import annotations

import math
from collections.abc import Callable

from filedock.errors import MismatchedProject, RateLimited
from filedock.services import audit
from filedock.services.keys import Principal
from filedock.services.projects import ProjectService
from filedock.services.ratelimit import Allowance, Decision, Limiter, format_duration
from filedock.web.middleware.auth import REALM, ASGIApp, Message, Receive, Scope, Send, _header
from filedock.web.responses import error_response

UPLOAD_PATHS = ("/v1/files", "/v1/uploads")


_NAMES = {
    kind: tuple(f"x-ratelimit-{what}-{kind}".encode() for what in ("limit", "remaining", "reset"))
    for kind in ("requests", "uploads")
}


def _headers(kind: str, allowance: Allowance | None) -> list[tuple[bytes, bytes]]:
    if allowance is None:
        return []
    limit, remaining, reset = _NAMES[kind]
    return [
        (limit, b"%d" % allowance.limit),
        (remaining, b"%d" % allowance.remaining),
        (reset, format_duration(allowance.reset_seconds).encode()),
    ]


def _rate_limited(decision: Decision) -> RateLimited:
    kind = decision.denied_by or "requests"
    allowance = decision.uploads if kind == "uploads" else decision.requests
    assert allowance is not None
    wait = allowance.retry_after
    label = "requests per min (RPM)" if kind == "requests" else "uploads per min"
    return RateLimited(
        f"Rate limit reached for {label}: Limit {allowance.limit}, Used {allowance.limit}, "
        f"Requested 1. Please try again in {format_duration(wait)}.",
        headers={
            "Retry-After": str(max(1, math.ceil(wait))),
            "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
        },
    )


class GuardMiddleware:
    """Runs inside AuthMiddleware, so every /v1 request here has a principal."""

    def __init__(
        self,
        app: ASGIApp,
        limiter: Callable[[], Limiter],
        projects: Callable[[], ProjectService],
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.projects = projects

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.get("state") or {}
        principal: Principal | None = state.get("principal")
        if scope["type"] != "http" or principal is None:
            await self.app(scope, receive, send)
            return
        claimed = _header(scope, b"openai-project")
        if claimed is not None and claimed.strip() != principal.project_id:
            error = MismatchedProject(
                "OpenAI-Project header should match project for API key",
                headers={"WWW-Authenticate": REALM},
            )
            await error_response(error)(scope, receive, send)
            return
        requests_per_minute, uploads_per_minute = await self.projects().rate_limits(
            principal.project_id
        )
        is_upload = scope["method"] == "POST" and scope["path"] in UPLOAD_PATHS
        decision = await self.limiter().acquire(
            principal.key_id, requests_per_minute, uploads_per_minute if is_upload else None
        )
        extra = _headers("requests", decision.requests) + _headers("uploads", decision.uploads)
        if not decision.allowed:
            response = error_response(_rate_limited(decision))
            response.raw_headers.extend(extra)
            await response(scope, receive, send)
            return

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start" and extra:
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        token = audit.set_actor(
            audit.Actor(
                "http",
                request_id=state.get("request_id"),
                project_id=principal.project_id,
                key_prefix=principal.key_prefix,
            )
        )
        try:
            await self.app(scope, receive, send_with_limits)
        finally:
            audit.reset_actor(token)
