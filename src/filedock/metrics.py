"""Prometheus metrics of one process: a CollectorRegistry per Components (no module singleton).

HTTP metrics are recorded by web/middleware/observability.py; the Processor reports through
`Metrics.processing` (see docs/metrics.md); stored bytes/files are read from metadata on scrape.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from filedock.metadata.base import MetadataStore

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
PROCESSING_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900)


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


class Metrics:
    """Every metric of one app, registered in its own registry."""

    def __init__(self) -> None:
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
