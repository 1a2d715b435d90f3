"""Rendering: JSON bodies, the OpenAI error envelope, and a stored blob with its HTTP protocol."""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import msgspec
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from filedock.errors import FiledockError
from filedock.media_types import media_type
from filedock.web.ranges import none_match, parse_range, range_still_valid

_encoder = msgspec.json.Encoder()
EXTRA_TYPES = {".jsonl": "application/jsonl", ".md": "text/markdown", ".ts": "text/typescript"}
# Bodies up to this size are sent without a task listening for the client's disconnect.
WATCH_DISCONNECT_ABOVE = 1024 * 1024


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        # msgspec keeps dict key order (the File object's order matters) and is several times
        # faster than json.dumps on a 100-file listing.
        return _encoder.encode(content)


def error_response(error: FiledockError) -> JSONResponse:
    headers = dict(error.headers)
    if error.status >= 500:
        # A fault of ours that will not go away by resending the same request.
        headers.setdefault("x-should-retry", "false")
    return JSONResponse(error.envelope(), status_code=error.status, headers=headers)


def content_type_for(filename: str) -> str:
    """The media type a download is served with, from the stored file name."""
    return media_type(filename, EXTRA_TYPES)


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name in RFC 5987 form."""
    fallback = "".join(ch if 32 <= ord(ch) < 127 and ch not in '"\\%;' else "_" for ch in filename)
    exact = urllib.parse.quote(filename, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{exact}"


OpenRange = Callable[[int, int], Awaitable[AsyncIterator[bytes]]]


class BlobResponse(Response):
    """A stored blob's bytes, owning the protocol (RFC 9110) of serving them.

    Decided from the request when called: `If-None-Match` naming the ETag gives 304; a single
    `Range` gives 206 (416 with `Content-Range: bytes */size` past the end; multi-range and
    malformed headers send everything) unless `If-Range` does not match the ETag, which sends
    everything; HEAD sends the headers only and never reads the bytes. The bytes come from
    `open_range(start, end)` (opened before the status is sent, so a failure to open is an
    error response, never a truncated 200), streamed chunk by chunk in constant memory.
    """

    def __init__(
        self, *, size: int, filename: str, digest: str | None, open_range: OpenRange
    ) -> None:
        self.size = size
        self.etag = f'"{digest}"' if digest else None
        self.open_range = open_range
        self.status_code = 200
        media_type = content_type_for(filename)
        if media_type.startswith("text/"):
            media_type += "; charset=" + self.charset
        self.raw_headers = [
            (b"content-type", media_type.encode("latin-1")),
            (b"content-disposition", content_disposition(filename).encode("latin-1")),
            (b"accept-ranges", b"bytes"),
        ]
        if self.etag:
            self.raw_headers.append((b"etag", self.etag.encode("latin-1")))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_headers = _request_headers(scope)
        if self.etag and none_match(request_headers.get(b"if-none-match", ""), self.etag):
            self.status_code = 304
            etag = [(b"etag", self.etag.encode("latin-1"))]
            await send({"type": "http.response.start", "status": 304, "headers": etag})
            await send({"type": "http.response.body", "body": b""})
            return
        requested = request_headers.get(b"range")
        if_range = request_headers.get(b"if-range")
        if if_range is not None and not (self.etag and range_still_valid(if_range, self.etag)):
            requested = None  # the client's copy is not this blob: send it whole
        span = parse_range(requested, self.size)  # raises RangeNotSatisfiable (416)
        start, end = span if span else (0, self.size)
        headers = [*self.raw_headers, (b"content-length", b"%d" % (end - start))]
        if span:
            self.status_code = 206
            headers.append((b"content-range", f"bytes {start}-{end - 1}/{self.size}".encode()))
        if scope["method"] == "HEAD" or end == start:
            await send(
                {"type": "http.response.start", "status": self.status_code, "headers": headers}
            )
            await send({"type": "http.response.body", "body": b""})
            return
        body = await self.open_range(start, end)
        try:
            start_message = {
                "type": "http.response.start",
                "status": self.status_code,
                "headers": headers,
            }
            if end - start <= WATCH_DISCONNECT_ABOVE or _spec_version(scope) >= (2, 4):
                try:
                    await send(start_message)
                    await _send_body(body, end - start, send)
                except OSError:  # ASGI 2.4: a gone client makes send() raise
                    raise ClientDisconnect() from None
            else:
                await _send_watching_disconnect(body, end - start, start_message, send, receive)
        finally:
            await body.aclose()  # type: ignore[attr-defined]


def _request_headers(scope: Scope) -> dict[bytes, str]:
    wanted = (b"range", b"if-range", b"if-none-match")
    return {name: value.decode("latin-1") for name, value in scope["headers"] if name in wanted}


def _spec_version(scope: Scope) -> tuple[int, ...]:
    return tuple(map(int, scope.get("asgi", {}).get("spec_version", "2.0").split(".")))


async def _send_body(body: AsyncIterator[bytes], length: int, send: Send) -> None:
    sent = 0
    async for chunk in body:
        sent += len(chunk)
        await send({"type": "http.response.body", "body": chunk, "more_body": sent < length})
    if sent < length:
        # The blob ended early: ending the body short of Content-Length makes the server abort
        # the response, so the client sees an error, never a complete-looking file.
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_watching_disconnect(
    body: AsyncIterator[bytes], length: int, start: dict[str, Any], send: Send, receive: Receive
) -> None:
    # Before ASGI 2.4 a server drops what is sent to a gone client without a word: a big body
    # would be read to its end for nobody. Stop reading once the client disconnects.
    try:
        async with anyio.create_task_group() as group:

            async def stream() -> None:
                await send(start)
                await _send_body(body, length, send)
                group.cancel_scope.cancel()

            group.start_soon(stream)
            while (await receive())["type"] != "http.disconnect":
                pass
            group.cancel_scope.cancel()
    except BaseExceptionGroup as group_error:
        # One task failed (a read error mid-body): raise its error, not the group.
        if len(group_error.exceptions) != 1:
            raise
        raise group_error.exceptions[0] from None
