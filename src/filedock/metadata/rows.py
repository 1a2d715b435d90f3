"""What every aggregate shares: its base class over a Database and the types of its answers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal, TypeVar

from filedock.metadata.db import Database

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


def batches(items: Sequence[T], size: int = IN_BATCH) -> Iterator[Sequence[T]]:
    """`items` in slices of at most `size`, for `IN (...)` lists."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def marks(n: int) -> str:
    """`?, ?, ...` for an `IN (...)` list of `n` values."""
    return ", ".join("?" * n)
