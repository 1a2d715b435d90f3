"""The engine client (services/engine_http.py) on real sockets: against the fault-injecting stub
engine (headers, Retry-After, dropped and slow answers), and against small asyncio servers in the
tests that answer with raw bytes (chunked and close-delimited bodies, broken answers, TLS)."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from filedock.clock import SystemClock
from filedock.services.engine_http import EngineHttp, RemoteProtocolError
from filedock.services.engines import Engine, EngineAnswer, EngineConfig
from tests.batches.stub_engine import Reply, StubEngine
from tests.helpers import free_port

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def engine(
    url: str, timeout: float = 5.0, api_key: str = "", headers: dict[str, str] | None = None
) -> Engine:
    config = EngineConfig("e", url, api_key, timeout_seconds=timeout, headers=headers or {})
    return Engine(config, SystemClock())


async def send(e: Engine, marker: str) -> EngineAnswer:
    return await e.send("/v1/chat/completions", json.dumps({"marker": marker}).encode())


def test_headers_and_keep_alive_against_the_stub() -> None:
    stub = StubEngine().start()
    try:
        e = engine(stub.url, api_key="k", headers={"X-Tenant": "t"})

        async def scenario() -> list[EngineAnswer]:
            try:
                return [await send(e, f"m{i}") for i in range(3)]
            finally:
                await e.close()

        answers = asyncio.run(scenario())
    finally:
        stub.stop()
    assert [a.status for a in answers] == [200, 200, 200]
    assert [json.loads(a.body)["id"] for a in answers] == [
        "chatcmpl-m0",
        "chatcmpl-m1",
        "chatcmpl-m2",
    ]
    assert all(a.request_id and a.request_id.startswith("req_stub_") for a in answers)
    assert [r.path for r in stub.received] == ["/v1/chat/completions"] * 3
    for r in stub.received:
        assert r.headers["Authorization"] == "Bearer k"
        assert r.headers["X-Tenant"] == "t"
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["Host"] == f"127.0.0.1:{stub.port}"


def test_retry_after_dropped_and_slow_answers() -> None:
    def script(request: object, seen: int) -> Reply:
        marker = getattr(request, "marker", "")
        if marker == "busy":
            return Reply(status=429, headers={"Retry-After": "3"})
        if marker == "busy-ms":
            return Reply(status=503, headers={"retry-after-ms": "250"})
        if marker == "drop" and seen == 1:
            return Reply(drop=True)
        if marker == "slow":
            return Reply(delay=1.0)
        return Reply()

    stub = StubEngine(script=script).start()
    try:
        e = engine(stub.url, timeout=0.3)

        async def scenario() -> dict[str, EngineAnswer]:
            try:
                out = {}
                for marker in ("busy", "busy-ms", "drop", "drop", "slow", "after-slow"):
                    out[marker + ("-again" if marker in out else "")] = await send(e, marker)
                return out
            finally:
                await e.close()

        got = asyncio.run(scenario())
    finally:
        stub.stop()
    assert (got["busy"].status, got["busy"].retry_after, got["busy"].retryable) == (429, 3.0, True)
    assert (got["busy-ms"].status, got["busy-ms"].retry_after) == (503, 0.25)
    dropped = got["drop"]
    assert dropped.status is None and dropped.retryable
    assert dropped.error is not None and dropped.error.startswith("RemoteProtocolError")
    assert got["drop-again"].status == 200  # a new connection for the next request
    slow = got["slow"]
    assert slow.status is None and slow.error is not None and "ReadTimeout" in slow.error
    # The slow answer arrives late on the abandoned connection; it is not taken for this one's.
    after = got["after-slow"]
    assert after.status == 200 and json.loads(after.body)["id"] == "chatcmpl-after-slow"


def test_an_engine_that_is_not_there() -> None:
    e = engine(f"http://127.0.0.1:{free_port()}/v1")

    async def scenario() -> EngineAnswer:
        try:
            return await send(e, "x")
        finally:
            await e.close()

    answer = asyncio.run(scenario())
    assert answer.status is None and answer.retryable
    assert answer.error is not None and answer.error.startswith("ConnectError")


class RawServer:
    """A loopback server answering each request with what `handler` writes (raw bytes)."""

    def __init__(self, handler: Handler, context: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.context = context
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> RawServer:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer)
            finally:
                writer.close()

        self.server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=self.context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        """One request (head and Content-Length body), or None when the client closed."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request


def test_chunked_answers_keep_the_connection() -> None:
    async def scenario() -> tuple[list[bytes], RawServer]:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await raw.read_request(reader) is not None:
                writer.write(
                    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                    b"Content-Type: application/json\r\n\r\n"
                    b'5\r\n{"a":\r\n4\r\n 1}\n\r\n0\r\n\r\n'
                )

        raw = RawServer(handler)
        async with raw:
            client = EngineHttp(f"http://127.0.0.1:{raw.port}/v1", {"X-A": "b"}, 5.0)
            bodies = [(await client.post("/embeddings", b'{"n":1}')).body for _ in range(3)]
            await client.close()
        return bodies, raw

    bodies, raw = asyncio.run(scenario())
    assert bodies == [b'{"a": 1}\n'] * 3
    assert raw.connections == 1
    head, _, body = raw.requests[0].partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0] == b"POST /v1/embeddings HTTP/1.1"
    assert b"X-A: b" in head.split(b"\r\n") and b"Content-Length: 7" in head.split(b"\r\n")
    assert body == b'{"n":1}'


def test_an_answer_ended_by_closing_and_broken_answers() -> None:
    answers = {
        "close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
        "short": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nnot 100 bytes",
        "garbage": b"this is not HTTP\r\n\r\n",
    }

    async def scenario() -> tuple[dict[str, object], RawServer]:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = await raw.read_request(reader)
            assert request is not None
            writer.write(answers[request.rpartition(b"\r\n\r\n")[2].decode()])
            await writer.drain()

        raw = RawServer(handler)
        got: dict[str, object] = {}
        async with raw:
            client = EngineHttp(f"http://127.0.0.1:{raw.port}", {}, 5.0)
            for kind in answers:
                try:
                    got[kind] = (await client.post("/x", kind.encode())).body
                except RemoteProtocolError as exc:
                    got[kind] = exc
            await client.close()
        return got, raw

    got, raw = asyncio.run(scenario())
    assert got["close"] == b"until the end"
    assert isinstance(got["short"], RemoteProtocolError)
    assert "disconnected" in str(got["short"])
    assert isinstance(got["garbage"], RemoteProtocolError)
    assert raw.connections == 3  # none of them could be kept


def test_https_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def scenario() -> tuple[EngineAnswer, EngineAnswer]:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while await raw.read_request(reader) is not None:
                writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n{"ok":1}\n')

        raw = RawServer(handler, server_context)
        async with raw:
            url = f"https://127.0.0.1:{raw.port}/v1"
            untrusted = engine(url)  # the certificate is checked: unknown issuer, no answer
            refused = await send(untrusted, "a")
            await untrusted.close()
            monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now the test's certificate is trusted
            trusted = engine(url)
            answered = await send(trusted, "b")
            await trusted.close()
        return refused, answered

    refused, answered = asyncio.run(scenario())
    assert refused.status is None and refused.error is not None
    assert refused.error.startswith("ConnectError") and "certificate" in refused.error.lower()
    assert (answered.status, answered.body) == (200, b'{"ok":1}\n')
