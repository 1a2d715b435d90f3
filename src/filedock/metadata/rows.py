"""What every aggregate shares: its base class over a Database and the types of its answers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal, TypeVar

from filedock.metadata.db import Database, Params, Row, Tx

T = TypeVar("T")
Order = Literal["asc", "desc"]
ResizeOutcome = Literal["ok", "full", "missing"]
# Values per `IN (...)` list: far below SQLite's and PostgreSQL's limits on parameters.
IN_BATCH = 500


class CursorNotFound(LookupError):
    """The `after` id of a listing names no row (not even a recently deleted one)."""


class Rows:
    """One aggregate's rows: a small class over the shared Database, no domain rules."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _pick(self, tx: Tx, select: str, params: Params) -> list[Row]:
        """The rows a claim's SELECT picks, locked until `tx` ends. Rows another claimant has
        locked are passed over (SKIP LOCKED) on PostgreSQL; on SQLite the writer lock of the
        transaction already serialises claimants."""
        return await tx.fetch_all(select + self.db.skip_locked, params)


class RowLease:
    """Leases on rows of one table by id (its `lease_owner` and `lease_until` columns): the
    work a row stands for is one server's at a time."""

    def __init__(self, db: Database, table: str) -> None:
        self.db = db
        self.table = table

    async def claim(self, row_id: str, owner: str, now: int, until: int) -> bool:
        """Take (or extend) the lease unless another owner holds a live one."""
        count = await self.db.execute(
            f"UPDATE {self.table} SET lease_owner = ?, lease_until = ? WHERE id = ? "
            "AND (lease_owner IS NULL OR lease_owner = ? OR lease_until < ?)",
            (owner, until, row_id, owner, now),
        )
        return count == 1

    async def release(self, row_id: str, owner: str) -> None:
        """Give the row back now, if `owner` still holds it."""
        await self.db.execute(
            f"UPDATE {self.table} SET lease_owner = NULL, lease_until = NULL "
            "WHERE id = ? AND lease_owner = ?",
            (row_id, owner),
        )


def batches(items: Sequence[T], size: int = IN_BATCH) -> Iterator[Sequence[T]]:
    """`items` in slices of at most `size`, for `IN (...)` lists."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def marks(n: int) -> str:
    """`?, ?, ...` for an `IN (...)` list of `n` values."""
    return ", ".join("?" * n)
