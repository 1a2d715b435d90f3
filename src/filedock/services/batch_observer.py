"""What the batch runner tells observers (metrics, logs): one call per event, per engine.

Plug Prometheus (or anything) in with `BatchRunner.add_observer(observer)`. Calls are made on
the event loop and must neither block nor raise; every method has a no-op default, so an
observer overrides only what it needs.
"""

from __future__ import annotations


class BatchObserver:
    """Base class of runner observers (no-op methods)."""

    def request_sent(self, engine: str) -> None:
        """One request (a first attempt or a retry) goes to `engine`."""

    def request_answered(self, engine: str, status: int | None, latency: float) -> None:
        """`engine` answered with `status` (None: timeout or dropped connection) after
        `latency` seconds."""

    def request_retried(self, engine: str, reason: str, delay: float) -> None:
        """A request will be sent again after `delay` seconds; `reason` is `429`, `5xx`,
        `timeout` or `connection`."""

    def line_finished(self, engine: str, batch_id: str, outcome: str) -> None:
        """A request's final result was recorded: `completed` or `failed` (lines per second is
        the rate of these)."""

    def concurrency(self, engine: str, in_flight: int, window: float, slots: int) -> None:
        """The lane's state: requests in flight, the adaptive window (AIMD) and the engine
        slots this server holds (the cross-server limit)."""

    def batch_ended(self, batch_id: str, status: str) -> None:
        """A batch reached a final status (completed, failed, expired, cancelled)."""


class Observers(BatchObserver):
    """Fans every call out to the registered observers."""

    def __init__(self) -> None:
        self.observers: list[BatchObserver] = []

    def add(self, observer: BatchObserver) -> None:
        self.observers.append(observer)

    def request_sent(self, engine: str) -> None:
        for o in self.observers:
            o.request_sent(engine)

    def request_answered(self, engine: str, status: int | None, latency: float) -> None:
        for o in self.observers:
            o.request_answered(engine, status, latency)

    def request_retried(self, engine: str, reason: str, delay: float) -> None:
        for o in self.observers:
            o.request_retried(engine, reason, delay)

    def line_finished(self, engine: str, batch_id: str, outcome: str) -> None:
        for o in self.observers:
            o.line_finished(engine, batch_id, outcome)

    def concurrency(self, engine: str, in_flight: int, window: float, slots: int) -> None:
        for o in self.observers:
            o.concurrency(engine, in_flight, window, slots)

    def batch_ended(self, batch_id: str, status: str) -> None:
        for o in self.observers:
            o.batch_ended(batch_id, status)
