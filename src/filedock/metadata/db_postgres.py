"""PostgreSQL for the shared SQL layer: psycopg 3's async pool, `?` rewritten to `%s` once."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Iterable
from typing import ClassVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from filedock.errors import MetadataError
from filedock.metadata.db import (
    Database,
    Dialect,
    IntegrityConflict,
    Params,
    Row,
    Tx,
    redact_url,
)

SETTING = "FILEDOCK_DATABASE_URL"
# Readiness probes give up after a few seconds: a ping waits no longer for a free connection.
PING_TIMEOUT = 3.0
Connection = psycopg.AsyncConnection[Row]


@functools.lru_cache(maxsize=4096)
def to_pyformat(sql: str) -> str:
    """Our `?` placeholders in psycopg's style (a literal `%` doubled first)."""
    return sql.replace("%", "%%").replace("?", "%s")


def libpq_url(url: str) -> str:
    """`postgres://` is an alias libpq accepts too; SQLAlchemy-style `+driver` suffixes are not."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else url


def _translate_error(exc: Exception) -> MetadataError:
    if isinstance(exc, psycopg.errors.IntegrityError):
        return IntegrityConflict(f"Metadata constraint violated: {exc}")
    return MetadataError(f"Metadata database error: {exc}")


class _PgTx(Tx):
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        cur = await self._conn.execute(to_pyformat(sql), params)
        return await cur.fetchone()

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        cur = await self._conn.execute(to_pyformat(sql), params)
        return await cur.fetchall()

    async def execute(self, sql: str, params: Params = ()) -> int:
        cur = await self._conn.execute(to_pyformat(sql), params)
        return cur.rowcount

    async def execute_many(self, sql: str, seq_of_params: Iterable[Params]) -> None:
        async with self._conn.cursor() as cur:
            await cur.executemany(to_pyformat(sql), seq_of_params)


class PostgresDatabase(Database):
    """A pool of autocommit connections; `transaction()` holds one connection for its block."""

    dialect: ClassVar[Dialect] = "postgresql"
    for_update: ClassVar[str] = " FOR UPDATE"
    skip_locked: ClassVar[str] = " FOR UPDATE SKIP LOCKED"

    def __init__(self, url: str, *, pool_size: int = 10, connect_timeout: float = 10.0) -> None:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"not a PostgreSQL URL: {redact_url(url)}")
        super().__init__(url)
        self.pool_size = max(1, pool_size)
        self.connect_timeout = connect_timeout
        self._pool: AsyncConnectionPool[Connection] | None = None

    async def open(self) -> None:
        pool: AsyncConnectionPool[Connection] = AsyncConnectionPool(
            libpq_url(self.url),
            min_size=1,
            max_size=self.pool_size,
            kwargs={"autocommit": True, "connect_timeout": max(1, int(self.connect_timeout))},
            open=False,
            name="filedock",
            # How long a request waits for a free connection before failing (a 500, not a hang).
            timeout=self.connect_timeout,
        )
        try:
            await pool.open(wait=True, timeout=self.connect_timeout)
        except Exception as exc:
            await pool.close()
            raise MetadataError(
                f"{SETTING}: cannot connect to {redact_url(self.url)}: {exc}"
            ) from exc
        self._pool = pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def ping(self) -> None:
        async with self._connection(wait=PING_TIMEOUT) as conn:
            await _PgTx(conn).fetch_one("SELECT 1")

    @contextlib.asynccontextmanager
    async def _connection(self, wait: float | None = None) -> AsyncIterator[Connection]:
        if self._pool is None:
            raise MetadataError("The metadata store is not open")
        try:
            async with self._pool.connection(timeout=wait) as conn:
                yield conn
        except (psycopg.Error, OSError) as exc:  # includes the pool's PoolTimeout/PoolClosed
            raise _translate_error(exc) from exc

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        async with self._connection() as conn:
            return await _PgTx(conn).fetch_one(sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        async with self._connection() as conn:
            return await _PgTx(conn).fetch_all(sql, params)

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._connection() as conn:
            return await _PgTx(conn).execute(sql, params)

    async def execute_many(self, sql: str, seq_of_params: Iterable[Params]) -> None:
        async with self._connection() as conn:
            await _PgTx(conn).execute_many(sql, seq_of_params)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._connection() as conn, conn.transaction():
            yield _PgTx(conn)


__all__ = ["PostgresDatabase", "libpq_url", "to_pyformat"]
