"""Cancel and expiry: dispatching stops at once, in-flight requests finish or are aborted within
the grace, the partial files are written, and every custom_id appears at most once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from starlette.testclient import TestClient

from filedock.clock import FakeClock
from tests.batches.conftest import (
    AppFactory,
    create,
    file_lines,
    jsonl,
    request_line,
    upload,
    wait_for,
)
from tests.batches.stub_engine import Received, Reply, StubEngine

IDS = [f"line-{i}" for i in range(10)]


def until(condition: Any, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def start(client: TestClient, stub: StubEngine) -> dict[str, Any]:
    batch = create(client, upload(client, jsonl([request_line(c) for c in IDS])))
    until(lambda: stub.in_flight == 2)  # the concurrency: two requests held by the engine
    return batch


def every_line_once(
    client: TestClient, done: dict[str, Any]
) -> tuple[list[str], list[dict[str, Any]]]:
    outputs = [line["custom_id"] for line in file_lines(client, done["output_file_id"])]
    errors = file_lines(client, done["error_file_id"])
    seen = Counter(outputs + [e["custom_id"] for e in errors])
    assert all(n == 1 for n in seen.values()), seen
    counts = done["request_counts"]
    assert (counts["completed"], counts["failed"]) == (len(outputs), len(errors))
    return outputs, errors


def test_cancel_lets_requests_in_flight_finish(make_client: AppFactory, stub: StubEngine) -> None:
    client = make_client(batch_concurrency=2)
    stub.hold()
    batch = start(client, stub)
    cancelled = client.post(f"/v1/batches/{batch['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelling"
    assert cancelled.json()["cancelling_at"] is not None
    again = client.post(f"/v1/batches/{batch['id']}/cancel")
    assert again.json()["status"] in ("cancelling", "cancelled")
    sent_before = len(stub.received)
    stub.release()
    done = wait_for(client, batch["id"])
    assert done["status"] == "cancelled" and done["cancelled_at"] is not None
    assert len(stub.received) == sent_before  # nothing was dispatched after the cancel
    outputs, errors = every_line_once(client, done)
    assert sorted(outputs) == sorted(r.marker for r in stub.received)  # the two in flight finished
    assert errors == [] and done["error_file_id"] is None  # never started: absent
    assert done["request_counts"]["total"] == len(IDS)


def test_cancel_aborts_what_is_still_in_flight_after_the_grace(
    make_client: AppFactory, stub: StubEngine
) -> None:
    client = make_client(batch_concurrency=2, batch_cancel_grace_seconds=0.5)
    stub.hold()
    try:
        batch = start(client, stub)
        client.post(f"/v1/batches/{batch['id']}/cancel")
        done = wait_for(client, batch["id"], timeout=10)
    finally:
        stub.release()
    assert done["status"] == "cancelled"
    assert done["cancelled_at"] - done["cancelling_at"] <= 3
    outputs, errors = every_line_once(client, done)
    assert outputs == []
    assert sorted(e["custom_id"] for e in errors) == sorted(r.marker for r in stub.received)
    assert {e["error"]["code"] for e in errors} == {"batch_cancelled"}
    assert all(e["response"] is None for e in errors)


def test_expiry_keeps_what_finished_and_expires_the_rest(
    make_client: AppFactory, stub: StubEngine
) -> None:
    blocked = threading.Event()

    def script(request: Received, seen: int) -> Reply:
        if request.marker not in ("line-0", "line-1"):
            blocked.wait(30)
        return Reply()

    stub.script = script
    clock = FakeClock(time.time())
    client = make_client(clock=clock, batch_concurrency=2, batch_window_seconds=3600)
    try:
        batch = create(client, upload(client, jsonl([request_line(c) for c in IDS])))
        assert batch["expires_at"] == batch["created_at"] + 3600
        wait_for(client, batch["id"], lambda b: b["request_counts"]["completed"] == 2)
        until(lambda: stub.in_flight == 2)
        clock.advance(3600 + 30 + 1)  # past the window and the grace of requests in flight
        done = wait_for(client, batch["id"])
    finally:
        blocked.set()
    assert done["status"] == "expired", done
    assert done["expired_at"] is not None and done["completed_at"] is None
    outputs, errors = every_line_once(client, done)
    assert outputs == ["line-0", "line-1"]
    assert [e["custom_id"] for e in errors] == IDS[2:]  # every other line, in line order
    assert {e["error"]["code"] for e in errors} == {"batch_expired"}
    assert done["request_counts"] == {"total": 10, "completed": 2, "failed": 8}
