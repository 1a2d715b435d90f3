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


def batches(items: Sequence[T], size: int = IN_BATCH) -> Iterator[Sequence[T]]:
    """`items` in slices of at most `size`, for `IN (...)` lists."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def marks(n: int) -> str:
    """`?, ?, ...` for an `IN (...)` list of `n` values."""
    return ", ".join("?" * n)
