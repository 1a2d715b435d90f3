"""The shared SQL layer: one dialect of SQL (`?` placeholders) run on SQLite or PostgreSQL.

Aggregates (metadata/<aggregate>.py) write each statement once against `Database`; the two
backends differ only in how they connect, run a statement and hold a transaction. Driver errors
become `MetadataError` (`IntegrityConflict` for constraint violations) at this boundary.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from filedock.errors import MetadataError

Row = tuple[Any, ...]
Params = Sequence[Any]
Dialect = Literal["sqlite", "postgresql"]
T = TypeVar("T")


class IntegrityConflict(MetadataError):
    """A statement broke a uniqueness or foreign-key constraint."""


class Tx(abc.ABC):
    """Statements of one transaction (or of autocommit, on `Database` itself)."""

    @abc.abstractmethod
    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of the result, or None."""

    @abc.abstractmethod
    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of the result."""

    @abc.abstractmethod
    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; the number of rows it changed."""

    @abc.abstractmethod
    async def execute_many(self, sql: str, seq_of_params: Iterable[Params]) -> None:
        """Run one statement once per parameter tuple."""


class Database(Tx):
    """A connection pool to one database; statements outside `transaction()` autocommit."""

    dialect: ClassVar[Dialect]
    # Appended to a SELECT in a transaction: lock the rows read (SQLite's writer lock already
    # covers the whole database), or pass over rows another transaction has locked (claims).
    for_update: ClassVar[str]
    skip_locked: ClassVar[str]

    def __init__(self, url: str) -> None:
        self.url = url

    async def open(self) -> None:
        """Connect (migrations are metadata/migrate.py's job)."""

    async def close(self) -> None:
        """Wait for running statements, then release every connection."""

    async def ping(self) -> None:
        """Raise MetadataError when the database cannot be reached."""
        await self.fetch_one("SELECT 1")

    @abc.abstractmethod
    def transaction(self) -> contextlib.AbstractAsyncContextManager[Tx]:
        """One transaction: committed when the block ends, rolled back when it raises."""


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


__all__ = ["Database", "Dialect", "IntegrityConflict", "Params", "Row", "Tx", "redact_url"]
