"""The HTTP/1.1 client batch requests go to an engine with: keep-alive connections, C parsing.

A request is one POST with a Content-Length body; its answer is read whole (Content-Length,
chunked, or until the engine closes the connection). Each request in flight has a connection of
its own; a connection whose answer was read to its end (and that the engine keeps open) goes back
to the idle list for the next request. Responses are parsed by httptools (llhttp, the C parser
uvicorn uses). A request costs the event loop a few tens of microseconds here, against several
hundred through httpx/httpcore (docs/benchmarks.md, "Batch API"), which capped a batch's rate.

Errors carry httpx's names (ConnectError, ConnectTimeout, ReadTimeout, RemoteProtocolError), so
what the runner logs and counts reads the same. https:// engines go over asyncio's TLS.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

CONNECT_TIMEOUT_MAX = 30.0


class EngineHttpError(Exception):
    """No (complete) answer: the connection failed, timed out or was dropped."""


class ConnectError(EngineHttpError):
    pass


class ConnectTimeout(EngineHttpError):
    pass


class ReadTimeout(EngineHttpError):
    pass


class RemoteProtocolError(EngineHttpError):
    pass


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]  # names in lower case (a repeated header: the last value)
    body: bytes


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[HttpAnswer] | None = None
        self.closed = False
        self.reusable = False
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.headers_done = False
        self.framed = False  # the answer says where it ends (else: at the connection's close)

    # asyncio.Protocol ----------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:
            self.close()  # bytes nobody asked for: this connection is not to be trusted
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(RemoteProtocolError(f"invalid response from the engine: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        self.transport = None
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.headers_done and not self.framed:
            waiter.set_result(HttpAnswer(self.status, self.headers, b"".join(self.body)))
        else:
            detail = f" ({exc})" if exc else ""
            self._fail(
                RemoteProtocolError(
                    f"Server disconnected without sending a complete response{detail}"
                )
            )

    # httptools callbacks -------------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = status = self.parser.get_status_code()
        headers = self.headers
        self.framed = (
            "content-length" in headers
            or "transfer-encoding" in headers
            or status in (204, 304)
            or 100 <= status < 200
        )
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        if 100 <= self.status < 200:
            self._start()  # an interim answer (100 Continue): the real one follows
            return
        waiter = self.waiter
        self.reusable = self.parser.should_keep_alive()
        if waiter is not None and not waiter.done():
            waiter.set_result(HttpAnswer(self.status, self.headers, b"".join(self.body)))

    # requests ------------------------------------------------------------------------------
    def _start(self) -> None:
        self.status = 0
        self.headers = {}
        self.body = []
        self.headers_done = False
        self.framed = False

    def _fail(self, exc: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def _timed_out(self, limit: float) -> None:
        self._fail(ReadTimeout(f"no complete answer within {limit:g} s"))
        self.close()

    async def exchange(self, data: bytes, limit: float) -> HttpAnswer:
        """Send one request (its bytes) and read its answer within `limit` seconds."""
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._start()
        self.reusable = False
        waiter: asyncio.Future[HttpAnswer] = loop.create_future()
        self.waiter = waiter
        timer = loop.call_later(limit, self._timed_out, limit)
        try:
            self.transport.write(data)
            return await waiter
        finally:
            timer.cancel()
            self.waiter = None
            if not self.reusable:
                self.close()  # cancelled, failed or not kept alive: never reused

    def close(self) -> None:
        self.reusable = False
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class EngineHttp:
    """POSTs to one engine over keep-alive connections (one per request in flight)."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        timeout: float,
        *,
        max_idle: int = 64,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.base_path = parts.path.rstrip("/")
        self.timeout = timeout
        self.connect_timeout = min(CONNECT_TIMEOUT_MAX, timeout)
        self.max_idle = max_idle
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if self.tls else None
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port != (443 if self.tls else 80):
            host = f"{host}:{self.port}"
        # Host first (a configured Host wins); Content-Length is the client's to set.
        host = next((v for k, v in headers.items() if k.lower() == "host"), host)
        lines = [f"Host: {host}\r\n"] + [
            f"{k}: {v}\r\n"
            for k, v in headers.items()
            if k.lower() not in ("host", "content-length", "transfer-encoding")
        ]
        self._fields = "".join(lines)
        if any(c in line[:-2] for line in lines for c in "\r\n\0"):
            raise ValueError("a header name or value has a line break")
        self._heads: dict[str, str] = {}  # path -> request line and fixed header lines
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()

    async def post(self, path: str, body: bytes) -> HttpAnswer:
        """POST `body` to `<base URL><path>`; raises EngineHttpError without an answer."""
        head = self._heads.get(path)
        if head is None:
            head = self._heads[path] = f"POST {self.base_path}{path} HTTP/1.1\r\n{self._fields}"
        data = f"{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body
        conn = self._take() or await self._connect()
        try:
            answer = await conn.exchange(data, self.timeout)
        finally:
            self._done(conn)
        return answer

    def _take(self) -> _Connection | None:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn
            self._open.discard(conn)
        return None

    def _done(self, conn: _Connection) -> None:
        if conn.reusable and not conn.closed and len(self._idle) < self.max_idle:
            self._idle.append(conn)
        else:
            conn.close()
            self._open.discard(conn)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    _Connection,
                    self.host,
                    self.port,
                    ssl=self._ssl,
                    server_hostname=self.host if self.tls else None,
                )
        except TimeoutError as exc:
            raise ConnectTimeout(f"no connection within {self.connect_timeout:g} s") from exc
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(str(exc) or type(exc).__name__) from exc
        self._open.add(conn)
        return conn

    async def close(self) -> None:
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()
