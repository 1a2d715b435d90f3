"""Webhooks: batch.* events as OpenAI sends them, signed per Standard Webhooks (verified by the
official SDK), retried with backoff, and kept in the outbox across a restart."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest

from filedock.clock import FakeClock
from tests.batches.conftest import AppFactory, create, jsonl, request_line, upload, wait_for
from tests.batches.stub_engine import StubEngine
from tests.helpers import free_port

SECRET = "whsec_" + base64.b64encode(b"a webhook secret of 32 bytes!!!!").decode()


class WebhookReceiver:
    """A real HTTP endpoint that records deliveries and answers with scripted statuses."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses  # answers in order; 200 once they run out
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.port = free_port()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.deliveries.append((dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hooks = WebhookReceiver([500]).start()
    try:
        yield hooks
    finally:
        hooks.stop()


def until(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_a_completed_batch_is_announced_signed_and_retried(
    make_client: AppFactory, stub: StubEngine, receiver: WebhookReceiver
) -> None:
    clock = FakeClock(time.time())
    client = make_client(clock=clock, webhook_url=receiver.url, webhook_secret=SECRET)
    batch = create(client, upload(client, jsonl([request_line("a")])))
    done = wait_for(client, batch["id"])
    assert done["status"] == "completed"
    until(lambda: len(receiver.deliveries) == 1)  # answered 500
    webhooks = client.app.state.components.webhooks
    # The retry waits for its backoff: with time standing still, nothing is due.
    assert client.portal.call(webhooks.deliver_due) == 0
    assert len(receiver.deliveries) == 1
    clock.advance(10)
    until(lambda: len(receiver.deliveries) == 2)
    (first_headers, first_body), (headers, body) = receiver.deliveries
    assert first_body == body and first_headers["webhook-id"] == headers["webhook-id"]
    event = json.loads(body)
    assert list(event) == ["id", "object", "created_at", "type", "data"]
    assert event["type"] == "batch.completed" and event["data"] == {"id": batch["id"]}
    assert event["id"].startswith("evt_") and event["id"] == headers["webhook-id"]
    assert headers["webhook-signature"].startswith("v1,")
    sdk = openai.OpenAI(api_key="unused", webhook_secret=SECRET)
    unwrapped = sdk.webhooks.unwrap(body, headers)
    assert unwrapped.type == "batch.completed" and unwrapped.data.id == batch["id"]
    with pytest.raises(openai.InvalidWebhookSignatureError):
        sdk.webhooks.unwrap(body.replace(b"completed", b"cancelled"), headers)
    clock.advance(3600)  # delivered: never due again, however late it gets
    assert client.portal.call(webhooks.deliver_due) == 0
    assert len(receiver.deliveries) == 2


def test_a_failed_batch_is_announced_after_a_restart(
    make_client: AppFactory, stub: StubEngine, receiver: WebhookReceiver
) -> None:
    receiver.stop()  # the endpoint is down when the batch fails
    client = make_client(webhook_url=receiver.url, webhook_secret="plain secret")
    batch = create(client, upload(client, b"not json\n"))
    assert wait_for(client, batch["id"])["status"] == "failed"
    client.__exit__(None, None, None)
    receiver.statuses.clear()
    receiver.start()
    later = FakeClock(time.time() + 60)  # past the first backoff
    make_client(clock=later, webhook_url=receiver.url, webhook_secret="plain secret")
    until(lambda: len(receiver.deliveries) == 1)
    headers, body = receiver.deliveries[0]
    event = openai.OpenAI(api_key="unused").webhooks.unwrap(body, headers, secret="plain secret")
    assert event.type == "batch.failed" and event.data.id == batch["id"]
