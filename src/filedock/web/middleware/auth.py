"""Pure ASGI middleware: request ids on every response, and API-key authentication for /v1."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from filedock.errors import FiledockError
from filedock.services.keys import ApiKeys
from filedock.web.responses import error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REALM = 'Bearer realm="filedock"'


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestIdMiddleware:
    """Echo a sane incoming `x-request-id` or make one; it goes on every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        request_id = (
            incoming
            if incoming and _REQUEST_ID.fullmatch(incoming)
            else "req_" + secrets.token_hex(16)
        )
        scope.setdefault("state", {})["request_id"] = request_id
        raw_id = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", raw_id)]
            await send(message)

        await self.app(scope, receive, send_with_id)


class AuthMiddleware:
    """Every request under /v1 needs `Authorization: Bearer <key>`; the principal goes in state."""

    def __init__(self, app: ASGIApp, keys: Callable[[], ApiKeys]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1"):
            await self.app(scope, receive, send)
            return
        try:
            principal = await self.keys().authenticate(_header(scope, b"authorization"))
        except FiledockError as exc:
            exc.headers.setdefault("WWW-Authenticate", REALM)
            await error_response(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
