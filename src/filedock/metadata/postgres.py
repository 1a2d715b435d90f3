"""PostgreSQL metadata: psycopg 3 async connection pool, same rows and semantics as SQLite."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio.to_thread
import psycopg
from psycopg_pool import AsyncConnectionPool

from filedock.errors import MetadataError
from filedock.metadata import migrate
from filedock.metadata.base import CursorNotFound, MetadataStore, Order
from filedock.metadata.factory import redact_url
from filedock.models import ApiKeyRecord, FilePage, FileRecord

T = TypeVar("T")

FILE_COLUMNS = (
    "id, project_id, purpose, filename, bytes, created_at, expires_at, status, "
    "status_details, sha256, blob_key, seq"
)
KEY_COLUMNS = "id, project_id, name, prefix, key_hash, created_at, revoked_at"
LIVE = "deleted_at IS NULL AND (expires_at IS NULL OR expires_at > %s)"
SETTING = "FILEDOCK_DATABASE_URL"
PING_TIMEOUT = 3.0


def _file(row: tuple[Any, ...]) -> FileRecord:
    return FileRecord(*row)


def _key(row: tuple[Any, ...]) -> ApiKeyRecord:
    return ApiKeyRecord(*row)


def libpq_url(url: str) -> str:
    """`postgres://` is an alias libpq accepts too; SQLAlchemy-style `+driver` suffixes are not."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else url


class PostgresMetadataStore(MetadataStore):
    """Rows in PostgreSQL; `url` is `postgresql://user:password@host:port/dbname?options`.

    Every statement is one atomic autocommit statement, so the store is safe to share between
    any number of server processes; expiry claims use `FOR UPDATE SKIP LOCKED` so concurrent
    sweepers split the work instead of repeating it.
    """

    def __init__(self, url: str, *, pool_size: int = 10, connect_timeout: float = 10.0) -> None:
        if not url.startswith(("postgresql://", "postgres://")):
            raise ValueError(f"not a PostgreSQL URL: {redact_url(url)}")
        self.url = url
        self.pool_size = max(1, pool_size)
        self.connect_timeout = connect_timeout
        self._pool: AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]] | None = None

    # connection handling -------------------------------------------------------------------
    async def open(self) -> None:
        try:
            # Alembic is synchronous (SQLAlchemy + psycopg); run it off the event loop.
            await anyio.to_thread.run_sync(migrate.upgrade, self.url)
        except Exception as exc:
            raise MetadataError(
                f"{SETTING}: cannot open the PostgreSQL database {redact_url(self.url)}: {exc}"
            ) from exc
        pool: AsyncConnectionPool[psycopg.AsyncConnection[tuple[Any, ...]]] = AsyncConnectionPool(
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

    async def _run(
        self,
        fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
        wait_for_connection: float | None = None,
    ) -> T:
        if self._pool is None:
            raise MetadataError("The metadata store is not open")
        try:
            async with self._pool.connection(timeout=wait_for_connection) as conn:
                return await fn(conn)
        except CursorNotFound:
            raise
        except (psycopg.Error, OSError) as exc:  # includes the pool's PoolTimeout/PoolClosed
            raise MetadataError(f"Metadata database error: {exc}") from exc

    async def _one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        async def run(c: psycopg.AsyncConnection[Any]) -> tuple[Any, ...] | None:
            cur = await c.execute(sql, params)
            row: tuple[Any, ...] | None = await cur.fetchone()
            return row

        return await self._run(run)

    async def _all(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        async def run(c: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cur = await c.execute(sql, params)
            rows: list[tuple[Any, ...]] = await cur.fetchall()
            return rows

        return await self._run(run)

    async def ping(self) -> None:
        async def select(c: psycopg.AsyncConnection[Any]) -> None:
            await c.execute("SELECT 1")

        # Readiness probes give up after a few seconds; answer before they do.
        await self._run(select, wait_for_connection=PING_TIMEOUT)

    # files ---------------------------------------------------------------------------------
    async def insert_file(self, record: FileRecord) -> FileRecord:
        row = await self._one(
            "INSERT INTO files (id, project_id, purpose, filename, bytes, created_at, "
            "expires_at, status, status_details, sha256, blob_key) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING seq",
            (
                record.id,
                record.project_id,
                record.purpose,
                record.filename,
                record.bytes,
                record.created_at,
                record.expires_at,
                record.status,
                record.status_details,
                record.sha256,
                record.blob_key,
            ),
        )
        assert row is not None
        return FileRecord(**{**record.__dict__, "seq": row[0]})

    async def get_file(self, project_id: str, file_id: str, now: int) -> FileRecord | None:
        row = await self._one(
            f"SELECT {FILE_COLUMNS} FROM files WHERE id = %s AND project_id = %s AND {LIVE}",
            (file_id, project_id, now),
        )
        return _file(row) if row else None

    async def list_files(
        self,
        project_id: str,
        *,
        purpose: str | None,
        limit: int,
        order: Order,
        after: str | None,
        now: int,
    ) -> FilePage:
        direction, compare = ("DESC", "<") if order == "desc" else ("ASC", ">")

        async def page(c: psycopg.AsyncConnection[Any]) -> FilePage:
            where = ["project_id = %s", LIVE]
            params: list[Any] = [project_id, now]
            if purpose is not None:
                where.append("purpose = %s")
                params.append(purpose)
            if after is not None:
                cur = await c.execute(
                    "SELECT created_at, seq FROM files WHERE id = %s AND project_id = %s",
                    (after, project_id),
                )
                cursor = await cur.fetchone()
                if cursor is None:
                    raise CursorNotFound(after)
                # A row-value comparison is an index range scan on (project_id, created_at, seq).
                where.append(f"(created_at, seq) {compare} (%s, %s)")
                params.extend(cursor)
            sql = (
                f"SELECT {FILE_COLUMNS} FROM files WHERE {' AND '.join(where)} "
                f"ORDER BY created_at {direction}, seq {direction} LIMIT %s"
            )
            cur = await c.execute(sql, (*params, limit + 1))
            rows = await cur.fetchall()
            return FilePage([_file(r) for r in rows[:limit]], has_more=len(rows) > limit)

        return await self._run(page)

    async def mark_file_deleted(self, project_id: str, file_id: str, now: int) -> FileRecord | None:
        row = await self._one(
            f"UPDATE files SET deleted_at = %s WHERE id = %s AND project_id = %s AND {LIVE} "
            f"RETURNING {FILE_COLUMNS}",
            (now, file_id, project_id, now),
        )
        return _file(row) if row else None

    async def update_file_status(
        self, file_id: str, status: str, status_details: str | None
    ) -> None:
        await self._one(
            "UPDATE files SET status = %s, status_details = %s WHERE id = %s RETURNING seq",
            (status, status_details, file_id),
        )

    async def claim_expired_files(self, now: int, limit: int) -> list[FileRecord]:
        # SKIP LOCKED: rows another server is claiming right now are left to it. The picked rows
        # are materialised once: as a plain `IN (subquery)` the planner may re-run the locking
        # subquery (EvalPlanQual), locking rows it then never updates, which stalls other sweepers.
        rows = await self._all(
            f"WITH picked AS MATERIALIZED ("
            f"SELECT seq FROM files WHERE deleted_at IS NULL AND expires_at <= %s "
            f"ORDER BY expires_at LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"UPDATE files SET deleted_at = %s FROM picked WHERE files.seq = picked.seq "
            f"RETURNING {', '.join('files.' + c.strip() for c in FILE_COLUMNS.split(','))}",
            (now, limit, now),
        )
        return [_file(r) for r in rows]

    async def purge_tombstones(self, deleted_before: int) -> int:
        async def purge(c: psycopg.AsyncConnection[Any]) -> int:
            cur = await c.execute(
                "DELETE FROM files WHERE deleted_at IS NOT NULL AND deleted_at < %s",
                (deleted_before,),
            )
            return cur.rowcount

        return await self._run(purge)

    async def live_blob_keys(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        rows = await self._all(
            "SELECT blob_key FROM files WHERE deleted_at IS NULL AND blob_key = ANY(%s)",
            (keys,),
        )
        return {r[0] for r in rows}

    # API keys ------------------------------------------------------------------------------
    async def insert_api_key(self, record: ApiKeyRecord) -> None:
        await self._one(
            f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "RETURNING id",
            (
                record.id,
                record.project_id,
                record.name,
                record.prefix,
                record.key_hash,
                record.created_at,
                record.revoked_at,
            ),
        )

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        row = await self._one(
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = %s", (key_hash,)
        )
        return _key(row) if row else None

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        rows = await self._all(f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id", ())
        return [_key(r) for r in rows]

    async def revoke_api_key(self, key_id_or_prefix: str, now: int) -> ApiKeyRecord | None:
        row = await self._one(
            f"UPDATE api_keys SET revoked_at = COALESCE(revoked_at, %s) "
            f"WHERE id = %s OR prefix = %s RETURNING {KEY_COLUMNS}",
            (now, key_id_or_prefix, key_id_or_prefix),
        )
        return _key(row) if row else None
