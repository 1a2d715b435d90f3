"""Rate-limit buckets shared by every server on one database: one row per (API key, kind).

A request takes a token from each of its buckets in one transaction with the rows locked, so
two servers deciding at once for the same key see each other's takes: the budget of a key is
the same whatever the number of servers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from filedock.metadata.db import Database

# (tokens, seconds since the epoch of the last refill) per kind; the decision function returns
# the new values to store per kind (or None to leave a bucket as it is).
Buckets = dict[str, tuple[float, float]]
Decide = Callable[[Buckets], Buckets]


class RateLimitRows:
    """Rows of rate_limits."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def update(
        self, key_id: str, kinds: Sequence[str], full: Buckets, decide: Decide
    ) -> None:
        """Lock the key's buckets of `kinds` (created as `full` if absent), let `decide` see
        them and store what it returns, all in one transaction."""
        async with self.db.transaction() as tx:
            current: Buckets = {}
            for kind in sorted(kinds):  # one lock order: concurrent takes never deadlock
                tokens, updated = full[kind]
                await tx.execute(
                    "INSERT INTO rate_limits (key_id, kind, tokens, updated_ms) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (key_id, kind) DO NOTHING",
                    (key_id, kind, tokens, int(updated * 1000)),
                )
                row = await tx.fetch_one(
                    "SELECT tokens, updated_ms FROM rate_limits WHERE key_id = ? AND kind = ?"
                    + self.db.for_update,
                    (key_id, kind),
                )
                assert row is not None
                current[kind] = (float(row[0]), int(row[1]) / 1000)
            for kind, (tokens, updated) in decide(current).items():
                await tx.execute(
                    "UPDATE rate_limits SET tokens = ?, updated_ms = ? "
                    "WHERE key_id = ? AND kind = ?",
                    (tokens, int(updated * 1000), key_id, kind),
                )
