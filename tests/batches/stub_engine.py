"""A FAULT-INJECTING STUB ENGINE for the batch runner's tests (a stub, named as such).

A real HTTP server (stdlib, one thread per connection) on a free loopback port that speaks just
enough of the OpenAI API for batches: POST /v1/chat/completions, /v1/embeddings, ... answer with
a small JSON body carrying usage, GET /v1/models lists its models. It exists to script what a
real engine cannot be made to do on demand (429 with Retry-After, 500, slow answers, dropped
connections) and to count what it receives: every request's body, the largest number of
requests it had in flight at once, and a gate that holds requests until a test opens it.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.helpers import free_port


@dataclass
class Reply:
    """What the stub answers one request with."""

    status: int = 200
    body: Any = None  # None: the default answer for the path (with usage); bytes: sent as is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    drop: bool = False  # close the connection without an answer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float

    @property
    def marker(self) -> str:
        """Which batch line this is: the tests put the custom_id in the body."""
        return str(self.body.get("marker", ""))


Script = Callable[[Received, int], Reply]  # (request, how many times its marker was seen)


def default_answer(path: str, body: dict[str, Any]) -> dict[str, Any]:
    marker = body.get("marker", "")
    if path.endswith("/embeddings"):
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.5, 0.25]}],
            "model": body.get("model"),
            "usage": {"prompt_tokens": 3, "total_tokens": 3},
        }
    return {
        "id": f"chatcmpl-{marker}",
        "object": "chat.completion",
        "model": body.get("model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"echo {marker}"},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 5,
            "completion_tokens": 2,
            "total_tokens": 7,
            "prompt_tokens_details": {"cached_tokens": 1},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 resets connections opened together

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up (a timeout being tested) is not news


class StubEngine:
    """Start with `StubEngine().start()`; `url` is the base URL with /v1; `stop()` at the end."""

    def __init__(self, models: tuple[str, ...] = ("stub-model",), script: Script | None = None):
        self.models = models
        self.script: Script = script or (lambda request, seen: Reply())
        self.received: list[Received] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()
        self._seen: Counter[str] = Counter()
        self.port = free_port()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def counts(self) -> Counter[str]:
        """How many times each marker (custom_id) was received."""
        with self._lock:
            return Counter(r.marker for r in self.received)

    def hold(self) -> None:
        """Requests wait (in flight) until release()."""
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def start(self) -> StubEngine:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    data = [{"id": m, "object": "model", "owned_by": "stub"} for m in stub.models]
                    self._send(200, {"object": "list", "data": data}, {})
                else:
                    self._send(404, {"error": {"message": "not found"}}, {})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                request = Received(self.path, dict(self.headers), body, time.monotonic())
                with stub._lock:
                    stub.received.append(request)
                    stub._seen[request.marker] += 1
                    seen = stub._seen[request.marker]
                    stub.in_flight += 1
                    stub.max_in_flight = max(stub.max_in_flight, stub.in_flight)
                try:
                    reply = stub.script(request, seen)
                    stub.gate.wait()
                    if reply.delay:
                        time.sleep(reply.delay)
                finally:
                    with stub._lock:
                        stub.in_flight -= 1
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                answer = reply.body if reply.body is not None else default_answer(self.path, body)
                self._send(reply.status, answer, reply.headers)

            def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
                data = json.dumps(body).encode() if not isinstance(body, bytes) else body
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-request-id", f"req_stub_{time.monotonic_ns()}")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = _QuietServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.gate.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
