"""AIMD: how many requests a lane keeps in flight at an engine, adapted to its answers.

The window grows by one per answer below its threshold (slow start) and by 1/window above it;
it is cut in half on 429/503 and by a fifth when latency grows past LATENCY_GROWTH times its
baseline and by more than LATENCY_GROWTH_MIN, at most once per round trip (the answers of one
window report one event). The engine's limit (its slots) caps it.
"""

from __future__ import annotations

INITIAL_WINDOW = 4
LATENCY_GROWTH = 3.0
LATENCY_GROWTH_MIN = 0.1  # seconds: a growth smaller than this is noise (or our own load)


class Aimd:
    """Additive increase, multiplicative decrease of the requests a lane keeps in flight."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.window = float(min(limit, INITIAL_WINDOW))
        self.threshold = float(limit)
        self.base: float | None = None
        self.smoothed: float | None = None
        self._cut_at = -1e9

    def target(self) -> int:
        return max(1, min(self.limit, int(self.window)))

    def on_answer(self, status: int | None, latency: float, now: float) -> None:
        if status in (429, 503):
            self._cut(now, 0.5)
            return
        if status is None or status >= 500:
            return
        self.base = latency if self.base is None else min(latency, self.base * 1.002)
        self.smoothed = latency if self.smoothed is None else 0.9 * self.smoothed + 0.1 * latency
        grown = self.smoothed - self.base > LATENCY_GROWTH_MIN
        if grown and self.smoothed > LATENCY_GROWTH * self.base and self.window > 1:
            self._cut(now, 0.8)
            return
        self.window += 1.0 if self.window < self.threshold else 1.0 / self.window
        self.window = min(self.window, float(self.limit))

    def _cut(self, now: float, factor: float) -> None:
        if now - self._cut_at < max(self.smoothed or 0.0, 0.05):
            return  # one cut per round trip: the answers of one window report one event
        self._cut_at = now
        self.window = max(1.0, self.window * factor)
        self.threshold = self.window
