"""SQLite for the shared SQL layer: one file in WAL mode, statements in the database's threads."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar, TypeVar

from filedock.errors import MetadataError
from filedock.metadata.db import Database, Dialect, IntegrityConflict, Params, Row, Tx

T = TypeVar("T")
# Threads (each statement borrows a pooled connection) that run one SQLite database's statements.
SQLITE_THREADS = 8
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "WITH")


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
        # FULL: every commit syncs the WAL, so an acknowledged upload survives power loss too.
        conn.execute("PRAGMA synchronous=FULL")
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
