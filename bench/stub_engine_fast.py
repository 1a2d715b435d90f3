"""A STUB engine for the batch benchmark: answers every POST after a fixed latency, as fast as one
asyncio process can (raw asyncio.Protocol, HTTP/1.1 keep-alive, no framework).

It is a stub, not an engine: the body is a canned chat completion (or embedding list) with usage.
It counts what it receives: every request, and per `custom_id` marker found in the body (the
benchmark writes `"cid-<n>"` into each line), so a resume test can tell how many lines were sent
twice. `GET /stats` returns {"requests": n, "distinct": d, "max_in_flight": m} as JSON;
`POST /reset` zeroes the counts.

Usage: python bench/stub_engine_fast.py PORT [--latency-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re

MARKER = re.compile(rb"cid-(\d+)")
CHAT = json.dumps(
    {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 0,
        "model": "stub-model",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "ok"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
    }
).encode()
MODELS = json.dumps(
    {"object": "list", "data": [{"id": "stub-model", "object": "model", "owned_by": "stub"}]}
).encode()


class Counts:
    def __init__(self) -> None:
        self.requests = 0
        self.seen: set[int] = set()
        self.in_flight = 0
        self.max_in_flight = 0

    def stats(self) -> bytes:
        return json.dumps(
            {
                "requests": self.requests,
                "distinct": len(self.seen),
                "max_in_flight": self.max_in_flight,
            }
        ).encode()


def response(body: bytes, status: str = "200 OK") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nx-request-id: req_stub\r\n\r\n"
    ).encode() + body


class StubProtocol(asyncio.Protocol):
    def __init__(self, counts: Counts, latency: float) -> None:
        self.counts = counts
        self.latency = latency
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  (uvloop's is no asyncio.Transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self.handle(head.split(" ", 2), body)

    def handle(self, request_line: list[str], body: bytes) -> None:
        method, path = request_line[0], request_line[1]
        assert self.transport is not None
        if method == "GET" and path.endswith("/stats"):
            self.transport.write(response(self.counts.stats()))
            return
        if method == "GET" and path.endswith("/models"):
            self.transport.write(response(MODELS))
            return
        if method == "POST" and path.endswith("/reset"):
            self.counts.__init__()  # type: ignore[misc]
            self.transport.write(response(b"{}"))
            return
        c = self.counts
        c.requests += 1
        c.in_flight += 1
        c.max_in_flight = max(c.max_in_flight, c.in_flight)
        found = MARKER.search(body)
        if found:
            c.seen.add(int(found.group(1)))
        # Replies leave in request order on one connection (HTTP/1.1 has no reordering), and
        # every reply on a connection has the same latency, so call_later keeps the order.
        self.loop.call_later(self.latency, self.reply)

    def reply(self) -> None:
        self.counts.in_flight -= 1
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(response(CHAT))

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def serve(port: int, latency: float) -> None:
    counts = Counts()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: StubProtocol(counts, latency), "127.0.0.1", port, backlog=1024
    )
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    args = parser.parse_args()
    try:
        import uvloop  # type: ignore[import-not-found]

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.port, args.latency_ms / 1000))


if __name__ == "__main__":
    main()
