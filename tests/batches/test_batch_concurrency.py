"""Concurrency: the per-engine limit holds (also across servers sharing the database), and
within it the runner adapts to the engine (AIMD on 429/503 and on latency growth)."""

from __future__ import annotations

import threading

from filedock.services.batch_observer import BatchObserver
from tests.batches.conftest import AppFactory, create, jsonl, request_line, upload, wait_for
from tests.batches.stub_engine import Received, Reply, StubEngine


class Windows(BatchObserver):
    """Records the lane's adaptive window and what it reported."""

    def __init__(self) -> None:
        self.windows: list[float] = []
        self.retries: list[str] = []
        self.finished = 0
        self.over_slots = 0  # reports of more requests in flight than slots held

    def concurrency(self, engine: str, in_flight: int, window: float, slots: int) -> None:
        self.windows.append(window)
        self.over_slots += in_flight > slots

    def request_retried(self, engine: str, reason: str, delay: float) -> None:
        self.retries.append(reason)

    def line_finished(self, engine: str, batch_id: str, outcome: str) -> None:
        self.finished += 1


def observe(client: object) -> Windows:
    windows = Windows()
    client.app.state.components.batch_runner.add_observer(windows)  # type: ignore[attr-defined]
    return windows


def test_the_engine_limit_holds(make_client: AppFactory, stub: StubEngine) -> None:
    stub.script = lambda request, seen: Reply(delay=0.03)
    client = make_client(batch_concurrency=3)
    windows = observe(client)
    ids = [f"r{i}" for i in range(40)]
    done = wait_for(
        client, create(client, upload(client, jsonl([request_line(c) for c in ids])))["id"]
    )
    assert done["status"] == "completed"
    assert stub.max_in_flight == 3  # filled, never more
    assert windows.finished == 40 and max(windows.windows) <= 3
    assert windows.over_slots == 0


def test_the_limit_holds_across_servers_on_one_database(
    make_client: AppFactory, stub: StubEngine
) -> None:
    stub.script = lambda request, seen: Reply(delay=0.05)
    one = make_client(batch_concurrency=4)
    two = make_client(batch_concurrency=4)  # a second server on the same database and blobs
    seen = [observe(one), observe(two)]
    ids = [f"r{i}" for i in range(60)]
    first = create(one, upload(one, jsonl([request_line(f"a-{c}") for c in ids])))
    second = create(two, upload(two, jsonl([request_line(f"b-{c}") for c in ids])))
    for batch in (first, second):
        assert wait_for(one, batch["id"])["status"] == "completed"
    assert stub.max_in_flight <= 4
    assert sum(s.finished for s in seen) == 120
    assert all(n == 1 for n in stub.counts().values())


def test_429s_halve_the_window(make_client: AppFactory, stub: StubEngine) -> None:
    # An engine that takes 4 requests at a time and answers 429 beyond that.
    lock = threading.Lock()
    busy = [0]

    def script(request: Received, seen: int) -> Reply:
        with lock:
            if busy[0] >= 4:
                return Reply(429, {"error": {"message": "full"}}, {"Retry-After": "0.05"})
            busy[0] += 1
        try:
            threading.Event().wait(0.03)
        finally:
            with lock:
                busy[0] -= 1
        return Reply()

    stub.script = script
    client = make_client(batch_concurrency=32, batch_max_retries=50)
    windows = observe(client)
    ids = [f"r{i}" for i in range(150)]
    done = wait_for(
        client, create(client, upload(client, jsonl([request_line(c) for c in ids])))["id"]
    )
    assert done["status"] == "completed", done
    assert done["request_counts"]["completed"] == 150
    assert "429" in windows.retries
    rejected = len(stub.received) - 150
    # Without adaptation nearly every round would overflow the 4 places 7 times over.
    assert rejected < 150, rejected
    # It was halved: some window is at most 0.6x a window before it (the window may grow back
    # past its earlier peak by the end, so the cut need not come after the highest window).
    seen = windows.windows
    assert any(w <= 0.6 * max(seen[:i]) for i, w in enumerate(seen) if i), seen


def test_latency_growth_shrinks_the_window(make_client: AppFactory, stub: StubEngine) -> None:
    # An engine that queues: each request takes 20 ms per request it has in flight.
    stub.script = lambda request, seen: Reply(delay=0.02 * stub.in_flight)
    client = make_client(batch_concurrency=32)
    windows = observe(client)
    ids = [f"r{i}" for i in range(200)]
    done = wait_for(
        client,
        create(client, upload(client, jsonl([request_line(c) for c in ids])))["id"],
        timeout=60,
    )
    assert done["status"] == "completed"
    assert stub.max_in_flight < 32  # a queueing engine is not filled to the limit
    peak = windows.windows.index(max(windows.windows))
    assert min(windows.windows[peak:]) < max(windows.windows)
