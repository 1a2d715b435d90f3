"""The shared SQL layer: one dialect of SQL (`?` placeholders) run on SQLite or PostgreSQL.

Aggregates (metadata/<aggregate>.py) write each statement once against `Database`; the two
backends differ only in how they connect, run a statement and hold a transaction. Driver errors
become `MetadataError` (`IntegrityConflict` for constraint violations) at this boundary.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from filedock.errors import MetadataError

Row = tuple[Any, ...]
Params = Sequence[Any]
Dialect = Literal["sqlite", "postgresql"]
T = TypeVar("T")

# Threads (each statement borrows a pooled connection) that run one SQLite database's statements.
SQLITE_THREADS = 8
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "WITH")


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


def database_for_url(url: str, *, pool_size: int = 10, connect_timeout: float = 10.0) -> Database:
    """The backend for `sqlite:///path` or `postgresql://...` (PostgreSQL's driver only then)."""
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url)
    if url.startswith(("postgresql://", "postgres://")):
        from filedock.metadata.db_postgres import PostgresDatabase

        return PostgresDatabase(url, pool_size=pool_size, connect_timeout=connect_timeout)
    raise ValueError(f"not a database URL: {url.split('://', 1)[0]}://...")


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def _translate_error(exc: Exception) -> MetadataError:
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityConflict(f"Metadata constraint violated: {exc}")
    return MetadataError(f"Metadata database error: {exc}")


class _SqliteTx(Tx):
    """Statements on one borrowed connection, each run in the database's threads."""

    def __init__(self, db: SqliteDatabase, conn: sqlite3.Connection) -> None:
        self._db = db
        self._conn = conn

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = await self._db._call(lambda: self._conn.execute(sql, params).fetchone())
        return row

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        rows: list[Row] = await self._db._call(lambda: self._conn.execute(sql, params).fetchall())
        return rows

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self._db._call(lambda: self._conn.execute(sql, params).rowcount)

    async def execute_many(self, sql: str, seq_of_params: Iterable[Params]) -> None:
        await self._db._call(lambda: self._conn.executemany(sql, seq_of_params))


class SqliteDatabase(Database):
    """One SQLite file in WAL mode; statements run in the database's own threads.

    Writers are serialised inside the process by an asyncio lock: a transaction awaits between
    its statements, and a thread parked in SQLite's busy wait for it would otherwise hold one of
    the threads the transaction needs to finish (a deadlock until the busy timeout).
    """

    dialect: ClassVar[Dialect] = "sqlite"
    for_update: ClassVar[str] = ""
    skip_locked: ClassVar[str] = ""

    def __init__(self, url: str) -> None:
        if not url.startswith("sqlite:///"):
            raise ValueError(f"not a sqlite URL: {url}")
        super().__init__(url)
        self.path = Path(url.removeprefix("sqlite:///"))
        self._idle: list[sqlite3.Connection] = []
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._executor = self._new_executor()
        self._write_lock: asyncio.Lock | None = None

    @staticmethod
    def _new_executor() -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=SQLITE_THREADS, thread_name_prefix="sqlite")

    async def open(self) -> None:
        await self._call(lambda: self.path.parent.mkdir(parents=True, exist_ok=True))

    async def close(self) -> None:
        executor, self._executor = self._executor, self._new_executor()
        # Wait for running statements and stop the threads before closing their connections
        # (closing a connection under a running statement crashes the process).
        await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)
        with self._lock:
            for conn in self._all:
                with contextlib.suppress(sqlite3.ProgrammingError):
                    conn.close()
            self._all.clear()
            self._idle.clear()

    # connections ------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        with self._lock:
            self._all.append(conn)
        return conn

    def _borrow(self) -> sqlite3.Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _give_back(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            self._idle.append(conn)

    async def _call(self, fn: Callable[[], T]) -> T:
        def call() -> T:
            try:
                return fn()
            except sqlite3.Error as exc:
                raise _translate_error(exc) from exc

        future = asyncio.get_running_loop().run_in_executor(self._executor, call)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # A cancelled caller still lets its statement finish, so clean-up sees its effect.
            await asyncio.wait([future])
            raise

    def _writer(self) -> asyncio.Lock:
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        return self._write_lock

    async def _autocommit(self, sql: str, run: Callable[[sqlite3.Connection], T]) -> T:
        def borrowed() -> T:
            conn = self._borrow()
            try:
                return run(conn)
            finally:
                self._give_back(conn)

        if _is_write(sql):
            async with self._writer():
                return await self._call(borrowed)
        return await self._call(borrowed)

    # statements -------------------------------------------------------------------------
    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = await self._autocommit(sql, lambda c: c.execute(sql, params).fetchone())
        return row

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        rows: list[Row] = await self._autocommit(sql, lambda c: c.execute(sql, params).fetchall())
        return rows

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self._autocommit(sql, lambda c: c.execute(sql, params).rowcount)

    async def execute_many(self, sql: str, seq_of_params: Iterable[Params]) -> None:
        await self._autocommit(sql, lambda c: c.executemany(sql, seq_of_params))

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._writer():
            conn = await self._call(self._borrow)
            try:
                await self._call(lambda: conn.execute("BEGIN IMMEDIATE"))
                try:
                    yield _SqliteTx(self, conn)
                except BaseException:
                    await asyncio.shield(self._call(lambda: conn.execute("ROLLBACK")))
                    raise
                await asyncio.shield(self._call(lambda: conn.execute("COMMIT")))
            finally:
                self._give_back(conn)


@functools.lru_cache(maxsize=1024)
def _is_write(sql: str) -> bool:
    return sql.lstrip().upper().startswith(_WRITES)


__all__ = [
    "Database",
    "IntegrityConflict",
    "Row",
    "SqliteDatabase",
    "Tx",
    "database_for_url",
    "redact_url",
]
