"""Time as services see it: one injectable clock, so tests move time instead of sleeping."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Wall-clock time in seconds since the epoch."""

    def time(self) -> float:
        """Now, with sub-second precision."""
        ...

    def now(self) -> int:
        """Now, in whole seconds (the unit of every stored timestamp)."""
        ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def now(self) -> int:
        return int(time.time())


class FakeClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start

    def time(self) -> float:
        return self._now

    def now(self) -> int:
        return int(self._now)

    def advance(self, seconds: float) -> None:
        """Move time forward (never backward)."""
        if seconds < 0:
            raise ValueError("a clock does not go back")
        self._now += seconds
