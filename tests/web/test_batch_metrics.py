"""Per-engine batch metrics: the BatchObserver hooks as /metrics shows them (in process, moved by a
FakeClock), and the same metrics after a real batch through a live server (below)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from filedock.client import FilesClient
from filedock.clock import FakeClock
from filedock.metrics import LINE_RATE_WINDOW, Metrics
from tests.batches.conftest import jsonl, request_line
from tests.batches.stub_engine import Received, Reply, StubEngine
from tests.helpers import TEST_KEY, make_server

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_observer_hooks_move_the_engine_metrics() -> None:
    clock = FakeClock()
    metrics = Metrics(clock)
    observer = metrics.batches
    for status, seconds in ((200, 0.02), (429, 0.01), (None, 30.0), (200, 0.03)):
        observer.request_sent("small")
        observer.request_answered("small", status, seconds)
        if status != 200:
            observer.request_retried("small", "429" if status else "timeout", 1.0)
    observer.request_sent("small")  # still in flight at the scrape
    observer.line_finished("small", "batch_a", "completed")
    observer.line_finished("small", "batch_a", "completed")
    observer.line_finished("other", "batch_b", "failed")
    observer.concurrency("small", 1, 12.5, 16)
    observer.batch_ended("batch_a", "completed")

    s = parse(metrics.exposition().decode())
    assert value(s, "filedock_batch_engine_requests_total", engine="small", status="200") == 2
    assert value(s, "filedock_batch_engine_requests_total", engine="small", status="429") == 1
    assert value(s, "filedock_batch_engine_requests_total", engine="small", status="error") == 1
    assert value(s, "filedock_batch_engine_errors_total", engine="small") == 2
    assert value(s, "filedock_batch_engine_retries_total", engine="small", reason="429") == 1
    assert value(s, "filedock_batch_engine_retries_total", engine="small", reason="timeout") == 1
    assert value(s, "filedock_batch_engine_in_flight", engine="small") == 1
    assert value(s, "filedock_batch_engine_request_duration_seconds_count", engine="small") == 4
    assert (
        value(
            s, "filedock_batch_engine_request_duration_seconds_bucket", engine="small", le="0.025"
        )
        == 2
    )  # 0.02 and 0.01
    assert value(s, "filedock_batch_lines_total", engine="small", outcome="completed") == 2
    assert value(s, "filedock_batch_lines_total", engine="other", outcome="failed") == 1
    assert value(s, "filedock_batch_lines_per_second", engine="small") == 2 / LINE_RATE_WINDOW
    assert value(s, "filedock_batch_engine_window", engine="small") == 12.5
    assert value(s, "filedock_batch_engine_slots", engine="small") == 16
    assert value(s, "filedock_batches_ended_total", status="completed") == 1


def test_lines_per_second_is_a_sliding_window() -> None:
    clock = FakeClock()
    metrics = Metrics(clock)
    for _ in range(30):
        for _ in range(4):
            metrics.batches.line_finished("e", "b", "completed")
        clock.advance(1)
    assert metrics.batches.lines_per_second("e") == 120 / LINE_RATE_WINDOW
    # 70 s after the start the window holds the last 60 whole seconds: 11 of the 30 seconds of
    # lines have fallen out.
    clock.advance(LINE_RATE_WINDOW + 10 - 30)
    assert metrics.batches.lines_per_second("e") == 19 * 4 / LINE_RATE_WINDOW
    clock.advance(LINE_RATE_WINDOW)
    assert metrics.batches.lines_per_second("e") == 0
    s = parse(metrics.exposition().decode())
    assert value(s, "filedock_batch_lines_per_second", engine="e") == 0
    assert value(s, "filedock_batch_lines_total", engine="e", outcome="completed") == 120


@pytest.mark.live
def test_metrics_after_a_batch_on_a_live_server(tmp_path: Path) -> None:
    """A real `filedock serve` runs a batch against the stub engine, whose script answers each
    line's first attempt with a 429 for every third line; /metrics then counts per engine."""

    def script(request: Received, seen: int) -> Reply:
        line = int(request.marker.removeprefix("m"))
        if line % 3 == 0 and seen == 1:
            return Reply(status=429, headers={"Retry-After": "0"}, body={"error": {}})
        return Reply()

    stub = StubEngine(script=script).start()
    server = make_server(
        tmp_path / "data",
        env={
            "FILEDOCK_ENGINE_URL": stub.url,
            "FILEDOCK_BATCH_POLL_SECONDS": "0.05",
            "FILEDOCK_BATCH_RETRY_BASE_SECONDS": "0.01",
        },
    )
    try:
        server.start()
        lines = [request_line(f"m{i}") for i in range(12)]
        with FilesClient(server.base_url, TEST_KEY) as client:
            file = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
            batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions")
            batch = client.batches.wait(batch.id, poll_interval=0.05, max_wait_seconds=60)
        assert batch.status == "completed" and batch.request_counts.completed == 12
        s = parse(httpx.get(server.url + "/metrics").text)
    finally:
        server.stop()
        stub.stop()

    engine = "default"
    assert value(s, "filedock_batch_engine_requests_total", engine=engine, status="200") == 12
    assert value(s, "filedock_batch_engine_requests_total", engine=engine, status="429") == 4
    assert value(s, "filedock_batch_engine_retries_total", engine=engine, reason="429") == 4
    assert value(s, "filedock_batch_engine_errors_total", engine=engine) == 4
    assert value(s, "filedock_batch_engine_request_duration_seconds_count", engine=engine) == 16
    assert value(s, "filedock_batch_engine_in_flight", engine=engine) == 0
    assert value(s, "filedock_batch_lines_total", engine=engine, outcome="completed") == 12
    assert value(s, "filedock_batch_lines_per_second", engine=engine) == 12 / LINE_RATE_WINDOW
    assert value(s, "filedock_batches_ended_total", status="completed") == 1
    assert value(s, "filedock_batch_engine_slots", engine=engine) >= 0
