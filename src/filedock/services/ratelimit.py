"""Rate limits: token buckets per API key for requests and uploads per minute.

A bucket holds at most one minute's allowance and refills continuously at limit/60 per second.
On SQLite (one server process) the buckets live in memory (`RateLimiter`); on PostgreSQL they are
rows every server shares (`SharedRateLimiter`), so a key's budget is the same whatever the number
of servers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from filedock.clock import Clock
from filedock.metadata.ratelimits import Buckets, RateLimitRows


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    limit: int


class Allowance(NamedTuple):
    """One bucket's state after a decision, for the `x-ratelimit-*` headers."""

    limit: int
    remaining: int
    reset_seconds: float  # until the bucket is full again
    retry_after: float  # until one token is available (0 when one is)


class Decision(NamedTuple):
    allowed: bool
    requests: Allowance | None
    uploads: Allowance | None
    denied_by: str | None = None  # "requests" or "uploads"


def format_duration(seconds: float) -> str:
    """OpenAI's style for `x-ratelimit-reset-*`: `250ms`, `1.5s`, `6m0s`."""
    if seconds < 1:
        return f"{math.ceil(seconds * 1000)}ms"
    if seconds < 60:
        return f"{round(seconds, 3):g}s"
    minutes, rest = divmod(math.ceil(seconds), 60)
    return f"{minutes}m{rest}s"


class RateLimiter:
    """Token buckets keyed by (API key id, kind); a limit of 0 means unlimited."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def _refilled(self, key: str, kind: str, limit: int, now: float) -> _Bucket:
        bucket = self._buckets.get((key, kind))
        if bucket is None:
            bucket = _Bucket(float(limit), now, limit)
            self._buckets[(key, kind)] = bucket
        else:
            bucket.tokens = min(float(limit), bucket.tokens + (now - bucket.updated) * limit / 60)
            bucket.updated = now
            bucket.limit = limit
        return bucket

    @staticmethod
    def _allowance(bucket: _Bucket) -> Allowance:
        rate = bucket.limit / 60
        return Allowance(
            limit=bucket.limit,
            remaining=max(0, math.floor(bucket.tokens)),
            reset_seconds=(bucket.limit - bucket.tokens) / rate,
            retry_after=max(0.0, (1 - bucket.tokens) / rate),
        )

    def take(self, key: str, requests_per_minute: int, uploads_per_minute: int | None) -> Decision:
        """Take one request (and one upload when `uploads_per_minute` is given) if both allow."""
        now = self._clock()
        requests = (
            self._refilled(key, "requests", requests_per_minute, now)
            if requests_per_minute > 0
            else None
        )
        uploads = (
            self._refilled(key, "uploads", uploads_per_minute, now) if uploads_per_minute else None
        )
        denied_by = None
        if requests is not None and requests.tokens < 1:
            denied_by = "requests"
        elif uploads is not None and uploads.tokens < 1:
            denied_by = "uploads"
        else:
            if requests is not None:
                requests.tokens -= 1
            if uploads is not None:
                uploads.tokens -= 1
        return Decision(
            allowed=denied_by is None,
            requests=self._allowance(requests) if requests else None,
            uploads=self._allowance(uploads) if uploads else None,
            denied_by=denied_by,
        )

    async def acquire(
        self, key: str, requests_per_minute: int, uploads_per_minute: int | None
    ) -> Decision:
        """`take`, with the signature every limiter shares."""
        return self.take(key, requests_per_minute, uploads_per_minute)


class SharedRateLimiter:
    """The same token buckets as rows of the database every server uses (PostgreSQL)."""

    def __init__(self, rows: RateLimitRows, clock: Clock) -> None:
        self._rows = rows
        self._clock = clock

    async def acquire(
        self, key: str, requests_per_minute: int, uploads_per_minute: int | None
    ) -> Decision:
        limits = {"requests": requests_per_minute, "uploads": uploads_per_minute or 0}
        limits = {kind: limit for kind, limit in limits.items() if limit > 0}
        if not limits:
            return Decision(True, None, None)
        now = self._clock.time()
        full: Buckets = {kind: (float(limit), now) for kind, limit in limits.items()}
        # The in-memory limiter decides, over the locked rows' state: one rule for both.
        local = RateLimiter(lambda: now)
        outcome: list[Decision] = []

        def decide(current: Buckets) -> Buckets:
            for kind, (tokens, updated) in current.items():
                local._buckets[(key, kind)] = _Bucket(tokens, min(updated, now), limits[kind])
            outcome.append(
                local.take(key, limits.get("requests", 0), limits.get("uploads") or None)
            )
            return {kind: (local._buckets[(key, kind)].tokens, now) for kind in current}

        await self._rows.update(key, list(limits), full, decide)
        return outcome[-1]


Limiter = RateLimiter | SharedRateLimiter
