"""SQLite for the shared SQL layer: one file in WAL mode, statements in the database's lanes."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import weakref
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import ClassVar, TypeVar

from filedock.errors import MetadataError
from filedock.metadata.db import Database, Dialect, IntegrityConflict, Params, Row, Tx
from filedock.metadata.sqlite_lanes import Lane

T = TypeVar("T")
# Threads (one connection each) that run autocommit SELECTs; WAL lets them read while the
# writer commits. Two: a slow read (a search over a big table) holds up one, not every read;
# one thread served about 10 % more retrieves per second under load (interleaved wrk runs).
SQLITE_READERS = 2


def _translate_error(exc: Exception) -> MetadataError:
    if isinstance(exc, sqlite3.IntegrityError):
        return IntegrityConflict(f"Metadata constraint violated: {exc}")
    return MetadataError(f"Metadata database error: {exc}")


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: every commit syncs the WAL, so an acknowledged upload survives power loss too.
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
    except BaseException:
        conn.close()
        raise
    return conn


def _commit(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("COMMIT")
    except sqlite3.Error:
        if conn.in_transaction:  # a failed COMMIT leaves the transaction open: end it
            conn.execute("ROLLBACK")
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _stop(lanes: list[Lane]) -> None:
    for lane in lanes:
        lane.stop()


class _SqliteTx(Tx):
    """Statements of one transaction, on the writer's connection."""

    def __init__(self, writer: Lane) -> None:
        self._writer = writer

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        row: Row | None = await self._writer.submit(
            lambda c: c.execute(sql, params).fetchone()
        ).result()
        return row

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        rows: list[Row] = await self._writer.submit(
            lambda c: c.execute(sql, params).fetchall()
        ).result()
        return rows

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self._writer.submit(lambda c: c.execute(sql, params).rowcount).result()

    async def execute_many(self, sql: str, seq_of_params: Iterable[Params]) -> None:
        await self._writer.submit(lambda c: c.executemany(sql, seq_of_params)).result()


class SqliteDatabase(Database):
    """One SQLite file in WAL mode, its statements run by two lanes (sqlite_lanes.py).

    The writer lane (one thread, one connection) runs every statement that may write and every
    statement of a transaction; an asyncio lock gives it to one transaction or autocommit write
    at a time, so SQLite's writer lock is only ever waited for across processes. The reader
    lane runs autocommit SELECTs on connections of its own, which WAL lets read the last commit
    while the writer works. Each lane hands a batch of results back with one wake-up.
    """

    dialect: ClassVar[Dialect] = "sqlite"
    for_update: ClassVar[str] = ""
    skip_locked: ClassVar[str] = ""

    def __init__(self, url: str) -> None:
        if not url.startswith("sqlite:///"):
            raise ValueError(f"not a sqlite URL: {url}")
        super().__init__(url)
        self.path = Path(url.removeprefix("sqlite:///"))
        self._lanes: list[Lane] = []
        self._reader, self._writer = self._new_lanes()
        # Threads of a database dropped without close() end with it.
        weakref.finalize(self, _stop, self._lanes)
        self._write_lock: asyncio.Lock | None = None

    def _new_lanes(self) -> tuple[Lane, Lane]:
        connect = functools.partial(_connect, self.path)
        reader = Lane("sqlite-read", SQLITE_READERS, connect, _translate_error)
        writer = Lane("sqlite-write", 1, connect, _translate_error)
        self._lanes[:] = [reader, writer]
        return reader, writer

    async def open(self) -> None:
        await asyncio.to_thread(self.path.parent.mkdir, parents=True, exist_ok=True)

    async def close(self) -> None:
        # Statements queued before close() still run; then the threads close their connections
        # (closing a connection under a running statement crashes the process).
        threads = [t for lane in self._lanes for t in lane.stop()]
        self._reader, self._writer = self._new_lanes()

        def join() -> None:
            for thread in threads:
                thread.join()

        await asyncio.to_thread(join)

    def _lock(self) -> asyncio.Lock:
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        return self._write_lock

    async def _autocommit(self, sql: str, run: Callable[[sqlite3.Connection], T]) -> T:
        if _is_read(sql):
            return await self._reader.submit(run).result()
        async with self._lock():
            return await self._writer.submit(run).result()

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
        async with self._lock():
            writer = self._writer
            await writer.submit(lambda c: c.execute("BEGIN IMMEDIATE")).result()
            try:
                yield _SqliteTx(writer)
            except BaseException:
                # Runs even when the caller is cancelled again (Job.result waits for it).
                await writer.submit(_rollback).result()
                raise
            await writer.submit(_commit).result()


@functools.lru_cache(maxsize=1024)
def _is_read(sql: str) -> bool:
    """A plain SELECT: it cannot write, so it may run on a reader's connection."""
    return sql.lstrip()[:6].upper() == "SELECT"
