"""Rows of engine slots: an engine's concurrency limit, shared by every server on the database.

An engine with limit N has slots 0..N-1; a server sends a request only while it holds a slot.
Slots are leased (owner + lease end) so a crashed server's slots come free by themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

from filedock.metadata.db import Database


class EngineSlotRows:
    """Rows of `engine_slots`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def ensure(self, engine: str, limit: int) -> None:
        """Make sure slots 0..limit-1 exist (slots above a lowered limit are never handed out)."""
        async with self.db.transaction() as tx:  # one commit, not one per slot
            await tx.execute_many(
                "INSERT INTO engine_slots (engine, slot) VALUES (?, ?) "
                "ON CONFLICT (engine, slot) DO NOTHING",
                [(engine, n) for n in range(limit)],
            )

    async def acquire(
        self, engine: str, owner: str, limit: int, want: int, now: int, until: int
    ) -> list[int]:
        """Lease up to `want` free slots below `limit`; returns their numbers."""
        if want <= 0:
            return []
        # A MATERIALIZED pick: see BatchRows.claim_lines.
        rows = await self.db.fetch_all(
            "WITH pick AS MATERIALIZED (SELECT slot AS picked FROM engine_slots "
            "WHERE engine = ? AND slot < ? AND (owner IS NULL OR lease_until < ?) "
            f"ORDER BY slot LIMIT ?{self.db.skip_locked}) "
            "UPDATE engine_slots SET owner = ?, lease_until = ? FROM pick "
            "WHERE engine_slots.engine = ? AND engine_slots.slot = pick.picked "
            "AND (engine_slots.owner IS NULL OR engine_slots.lease_until < ?) RETURNING slot",
            (engine, limit, now, want, owner, until, engine, now),
        )
        return sorted(int(r[0]) for r in rows)

    async def renew(self, engine: str, owner: str, until: int) -> set[int]:
        """Extend every slot `owner` still holds; returns them (a lost slot is not among them)."""
        rows = await self.db.fetch_all(
            "UPDATE engine_slots SET lease_until = ? WHERE engine = ? AND owner = ? RETURNING slot",
            (until, engine, owner),
        )
        return {int(r[0]) for r in rows}

    async def release(self, engine: str, owner: str, slots: Sequence[int]) -> None:
        if not slots:
            return
        marks = ", ".join("?" for _ in slots)
        await self.db.execute(
            "UPDATE engine_slots SET owner = NULL, lease_until = NULL "
            f"WHERE engine = ? AND owner = ? AND slot IN ({marks})",
            [engine, owner, *slots],
        )

    async def held(self, engine: str, now: int) -> int:
        """Slots of the engine held by any server with a live lease (for tests and metrics)."""
        row = await self.db.fetch_one(
            "SELECT COUNT(*) FROM engine_slots WHERE engine = ? AND owner IS NOT NULL "
            "AND lease_until >= ?",
            (engine, now),
        )
        return int(row[0]) if row else 0
