"""Per-engine batch metrics: the BatchObserver hooks as /metrics shows them (in process, moved by a
FakeClock), and the same metrics after a real batch through a live server (below)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from filedock.clock import FakeClock
from filedock.metrics import LINE_RATE_WINDOW, Metrics

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
