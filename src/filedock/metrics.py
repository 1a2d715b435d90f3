"""Prometheus metrics of one process: a CollectorRegistry per Components (no module singleton).

HTTP metrics are recorded by web/middleware/request.py; the Processor reports through
`Metrics.processing` and the batch runner through `Metrics.batches` (its observer; see
docs/metrics.md); stored bytes/files are read from metadata on scrape.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from filedock.clock import Clock, SystemClock
from filedock.metadata.base import MetadataStore
from filedock.services.batch_observer import BatchObserver

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
PROCESSING_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900)
ENGINE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
LINE_RATE_WINDOW = 60  # seconds over which filedock_batch_lines_per_second is averaged


class ProcessingMetrics:
    """What the Processor reports: its queue's length and each check's outcome and duration."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.queue_depth = Gauge(
            "filedock_processing_queue_depth",
            "Files waiting for or under content validation.",
            registry=registry,
        )
        self.outcomes = Counter(
            "filedock_processing_outcomes",
            "Files whose processing finished, by outcome (processed, error, ...).",
            ["outcome"],
            registry=registry,
        )
        self.duration = Histogram(
            "filedock_processing_duration_seconds",
            "Time from the start of a file's processing to its outcome.",
            buckets=PROCESSING_BUCKETS,
            registry=registry,
        )

    def finished(self, outcome: str, seconds: float | None = None) -> None:
        """A file's check ended with `outcome` ("processed", "error", ...)."""
        self.outcomes.labels(outcome).inc()
        if seconds is not None:
            self.duration.observe(seconds)

    def set_queue_depth(self, depth: int) -> None:
        """The files this process knows are waiting for or under a check."""
        self.queue_depth.set(depth)


class _LineRate(Collector):
    """filedock_batch_lines_per_second: lines recorded per engine, averaged over the last
    LINE_RATE_WINDOW seconds of the clock (one counter per whole second, old ones dropped)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._seconds: dict[str, collections.deque[list[int]]] = {}

    def add(self, engine: str) -> None:
        now = self.clock.now()
        with self._lock:
            buckets = self._seconds.setdefault(engine, collections.deque())
            if buckets and buckets[-1][0] == now:
                buckets[-1][1] += 1
            else:
                buckets.append([now, 1])
                while buckets and buckets[0][0] <= now - LINE_RATE_WINDOW:
                    buckets.popleft()

    def rate(self, engine: str) -> float:
        since = self.clock.now() - LINE_RATE_WINDOW
        with self._lock:
            lines = sum(n for second, n in self._seconds.get(engine, ()) if second > since)
        return lines / LINE_RATE_WINDOW

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "filedock_batch_lines_per_second",
            f"Batch lines recorded per second, by engine, over the last {LINE_RATE_WINDOW} s.",
            labels=["engine"],
        )
        with self._lock:
            engines = list(self._seconds)
        for engine in engines:
            family.add_metric([engine], self.rate(engine))
        yield family


class BatchMetrics(BatchObserver):
    """The batch runner's observer behind /metrics: engine requests, latency, retries, errors,
    requests in flight, the adaptive window, and lines recorded (a counter, and a per-second rate
    over a sliding window)."""

    def __init__(self, registry: CollectorRegistry, clock: Clock) -> None:
        self.requests = Counter(
            "filedock_batch_engine_requests",
            "Requests sent to an engine by the batch runner (every attempt), by engine and the "
            'engine\'s status ("error": timeout or dropped connection).',
            ["engine", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "filedock_batch_engine_request_duration_seconds",
            "Time from sending a batch request to an engine to its complete answer.",
            ["engine"],
            buckets=ENGINE_BUCKETS,
            registry=registry,
        )
        self.retries = Counter(
            "filedock_batch_engine_retries",
            "Batch requests scheduled to be sent again, by engine and reason (429, 5xx, "
            "timeout, connection).",
            ["engine", "reason"],
            registry=registry,
        )
        self.errors = Counter(
            "filedock_batch_engine_errors",
            "Engine answers that were not a success (non-2xx or no answer), by engine.",
            ["engine"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "filedock_batch_engine_in_flight",
            "Batch requests sent to an engine and not answered yet.",
            ["engine"],
            registry=registry,
        )
        self.lines = Counter(
            "filedock_batch_lines",
            "Batch lines whose result was recorded, by engine and outcome (completed, failed).",
            ["engine", "outcome"],
            registry=registry,
        )
        self.window = Gauge(
            "filedock_batch_engine_window",
            "The runner's adaptive concurrency window for an engine (additive increase, "
            "multiplicative decrease on 429/503 and latency growth).",
            ["engine"],
            registry=registry,
        )
        self.slots = Gauge(
            "filedock_batch_engine_slots",
            "Engine slots this server holds (the per-engine limit shared by all servers).",
            ["engine"],
            registry=registry,
        )
        self.ended = Counter(
            "filedock_batches_ended",
            "Batches that reached a final status, by status.",
            ["status"],
            registry=registry,
        )
        self._rate = _LineRate(clock)
        registry.register(self._rate)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        """The labelled child of `metric` (labels() costs a lock and a dict look-up per call:
        the per-request events keep theirs)."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def request_sent(self, engine: str) -> None:
        self._child(self.in_flight, engine).inc()

    def request_answered(self, engine: str, status: int | None, latency: float) -> None:
        self._child(self.in_flight, engine).dec()
        code = str(status) if status is not None else "error"
        self._child(self.requests, engine, code).inc()
        self._child(self.latency, engine).observe(latency)
        if status is None or not 200 <= status < 300:
            self._child(self.errors, engine).inc()

    def request_retried(self, engine: str, reason: str, delay: float) -> None:
        self.retries.labels(engine, reason).inc()

    def line_finished(self, engine: str, batch_id: str, outcome: str) -> None:
        self._child(self.lines, engine, outcome).inc()
        self._rate.add(engine)

    def concurrency(self, engine: str, in_flight: int, window: float, slots: int) -> None:
        self._child(self.window, engine).set(window)
        self._child(self.slots, engine).set(slots)

    def batch_ended(self, batch_id: str, status: str) -> None:
        self.ended.labels(status).inc()

    def lines_per_second(self, engine: str) -> float:
        return self._rate.rate(engine)


class Metrics:
    """Every metric of one app, registered in its own registry."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "filedock_http_requests",
            "HTTP requests by method, route template and status code.",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "filedock_http_request_duration_seconds",
            "Time to answer an HTTP request (until the last body byte), by method and route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.uploaded_bytes = Counter(
            "filedock_uploaded_bytes",
            "Request body bytes received by upload routes (POST /v1/files, Upload parts).",
            registry=r,
        )
        self.downloaded_bytes = Counter(
            "filedock_downloaded_bytes",
            "Content bytes sent by GET /v1/files/{file_id}/content.",
            registry=r,
        )
        self.uploads_in_flight = Gauge(
            "filedock_uploads_in_flight",
            "Upload requests (POST /v1/files, Upload parts) being received now.",
            registry=r,
        )
        self.stored_bytes = Gauge(
            "filedock_stored_bytes",
            "Bytes of live files, by purpose (read from metadata at scrape time).",
            ["purpose"],
            registry=r,
        )
        self.stored_files = Gauge(
            "filedock_stored_files",
            "Live files, by purpose (read from metadata at scrape time).",
            ["purpose"],
            registry=r,
        )
        self.processing = ProcessingMetrics(r)
        self.batches = BatchMetrics(r, clock or SystemClock())

    async def refresh_storage(self, metadata: MetadataStore, now: int) -> None:
        """Set the per-purpose storage gauges from one GROUP BY query (files live at `now`)."""
        usage = await metadata.usage_by_purpose(now)
        self.stored_bytes.clear()
        self.stored_files.clear()
        for purpose, files, size in usage:
            self.stored_files.labels(purpose).set(files)
            self.stored_bytes.labels(purpose).set(size)

    def exposition(self) -> bytes:
        """The text exposition format (call off the event loop)."""
        return generate_latest(self.registry)
