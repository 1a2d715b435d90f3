"""PostgreSQL metadata: psycopg 3 async connection pool, same rows and semantics as SQLite."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio.to_thread
import psycopg
from psycopg_pool import AsyncConnectionPool

from filedock.errors import MetadataError
from filedock.metadata import migrate
from filedock.metadata.base import (
    SORT_KEYS,
    CursorNotFound,
    MetadataStore,
    Order,
    ResizeOutcome,
    SortKey,
    listing_filters,
)
from filedock.metadata.factory import redact_url
from filedock.models import (
    ApiKeyRecord,
    FilePage,
    FileRecord,
    ProjectRecord,
    PurposeUsage,
    Reservation,
    UploadPartRecord,
    UploadRecord,
)

T = TypeVar("T")

FILE_COLUMNS = (
    "id, project_id, purpose, filename, bytes, created_at, expires_at, status, "
    "status_details, sha256, blob_key, seq"
)
KEY_COLUMNS = "id, project_id, name, prefix, key_hash, created_at, revoked_at, expires_at, role"
PROJECT_COLUMNS = (
    "id, name, created_at, archived_at, storage_quota_bytes, requests_per_minute, "
    "uploads_per_minute, used_bytes, reserved_bytes"
)
UPLOAD_COLUMNS = (
    "id, project_id, filename, purpose, bytes, mime_type, created_at, expires_at, status, "
    "file_expires_after, received_bytes, file_id, reservation_id"
)
PART_COLUMNS = "id, upload_id, bytes, sha256, blob_key, created_at"
# The Upload's recorded File exists: a completion got as far as publishing it.
FILE_PUBLISHED = (
    "EXISTS (SELECT 1 FROM files WHERE files.id = uploads.file_id AND files.deleted_at IS NULL)"
)
FITS = "used_bytes + reserved_bytes + %s <= COALESCE(storage_quota_bytes, %s)"
LIVE = "deleted_at IS NULL AND (expires_at IS NULL OR expires_at > %s)"
SETTING = "FILEDOCK_DATABASE_URL"
PING_TIMEOUT = 3.0


def _file(row: tuple[Any, ...]) -> FileRecord:
    return FileRecord(*row)


def _key(row: tuple[Any, ...]) -> ApiKeyRecord:
    return ApiKeyRecord(*row)


def _upload(row: tuple[Any, ...]) -> UploadRecord:
    return UploadRecord(*row)


def _part(row: tuple[Any, ...]) -> UploadPartRecord:
    return UploadPartRecord(*row)


def libpq_url(url: str) -> str:
    """`postgres://` is an alias libpq accepts too; SQLAlchemy-style `+driver` suffixes are not."""
    scheme, rest = url.split("://", 1)
    return "postgresql://" + rest if scheme.startswith("postgres") else url


class PostgresMetadataStore(MetadataStore):
    """Rows in PostgreSQL; `url` is `postgresql://user:password@host:port/dbname?options`.

    Single statements run in autocommit; multi-step operations (finish_processing, quota
    reservations, settling inserts, archiving) run in one transaction each, so the store is safe
    to share between any number of server processes. Expiry and processing claims use
    `FOR UPDATE SKIP LOCKED` so concurrent claimants split the work instead of repeating it.
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
        return await self._run(lambda c: _insert_file_row(c, record))

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
        status: str | None = None,
        search: str | None = None,
        sort: SortKey = "created_at",
    ) -> FilePage:
        direction, compare = ("DESC", "<") if order == "desc" else ("ASC", ">")
        if sort not in SORT_KEYS:
            raise ValueError(f"not a sort key: {sort}")
        filters, filter_params = listing_filters(status, search, "%s", "ILIKE")

        async def page(c: psycopg.AsyncConnection[Any]) -> FilePage:
            where = ["project_id = %s", LIVE]
            params: list[Any] = [project_id, now]
            if purpose is not None:
                where.append("purpose = %s")
                params.append(purpose)
            where.extend(filters)
            params.extend(filter_params)
            if after is not None:
                cur = await c.execute(
                    f"SELECT {sort}, seq FROM files WHERE id = %s AND project_id = %s",
                    (after, project_id),
                )
                cursor = await cur.fetchone()
                if cursor is None:
                    raise CursorNotFound(after)
                # A row-value comparison is an index range scan on (project_id, created_at, seq).
                where.append(f"({sort}, seq) {compare} (%s, %s)")
                params.extend(cursor)
            sql = (
                f"SELECT {FILE_COLUMNS} FROM files WHERE {' AND '.join(where)} "
                f"ORDER BY {sort} {direction}, seq {direction} LIMIT %s"
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
        # SKIP LOCKED: rows another server is claiming right now are left to it. Tombstoning
        # fires the usage trigger, which updates each file's projects row; a sweep spanning
        # several projects would lock those rows in whatever order the UPDATE visits the files,
        # and two sweepers could deadlock. So one transaction: lock the picked files, then
        # their projects in id order, then tombstone.
        async def claim(c: psycopg.AsyncConnection[Any]) -> list[FileRecord]:
            async with c.transaction():
                cur = await c.execute(
                    "SELECT seq, project_id FROM files WHERE deleted_at IS NULL "
                    "AND expires_at <= %s ORDER BY expires_at LIMIT %s FOR UPDATE SKIP LOCKED",
                    (now, limit),
                )
                picked = await cur.fetchall()
                if not picked:
                    return []
                await c.execute(
                    "SELECT id FROM projects WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                    (sorted({p for _, p in picked}),),
                )
                cur = await c.execute(
                    "UPDATE files SET deleted_at = %s WHERE seq = ANY(%s) "
                    f"AND deleted_at IS NULL RETURNING {FILE_COLUMNS}",
                    (now, [seq for seq, _ in picked]),
                )
                return [_file(r) for r in await cur.fetchall()]

        return await self._run(claim)

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
            f"INSERT INTO api_keys ({KEY_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                record.id,
                record.project_id,
                record.name,
                record.prefix,
                record.key_hash,
                record.created_at,
                record.revoked_at,
                record.expires_at,
                record.role,
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

    # metrics -------------------------------------------------------------------------------
    async def usage_by_purpose(self, now: int) -> list[tuple[str, int, int]]:
        rows = await self._all(
            f"SELECT purpose, COUNT(*), COALESCE(SUM(bytes), 0) FROM files "
            f"WHERE {LIVE} GROUP BY purpose ORDER BY purpose",
            (now,),
        )
        return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]

    # processing ----------------------------------------------------------------------------
    async def claim_files_for_processing(
        self, owner: str, now: int, lease_until: int, limit: int
    ) -> list[FileRecord]:
        claimable = (
            "status = 'uploaded' AND deleted_at IS NULL "
            "AND (lease_until IS NULL OR lease_until <= %s)"
        )
        # As for expiry claims: SKIP LOCKED leaves rows another server is leasing right now to
        # it, and the materialised pick is run once. The outer WHERE re-checks the condition on
        # the row as updated by a claimant that committed after this statement's snapshot.
        rows = await self._all(
            f"WITH picked AS MATERIALIZED ("
            f"SELECT seq FROM files WHERE {claimable} "
            f"ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"UPDATE files SET lease_owner = %s, lease_until = %s FROM picked "
            f"WHERE files.seq = picked.seq AND {claimable} "
            f"RETURNING {_qualified(FILE_COLUMNS)}",
            (now, limit, owner, lease_until, now),
        )
        return sorted((_file(r) for r in rows), key=lambda r: r.seq)

    async def renew_processing_lease(self, file_id: str, owner: str, lease_until: int) -> bool:
        row = await self._one(
            "UPDATE files SET lease_until = %s WHERE id = %s AND lease_owner = %s "
            "AND status = 'uploaded' RETURNING seq",
            (lease_until, file_id, owner),
        )
        return row is not None

    async def release_processing_lease(self, file_id: str, owner: str) -> None:
        await self._all(
            "UPDATE files SET lease_owner = NULL, lease_until = NULL "
            "WHERE id = %s AND lease_owner = %s RETURNING seq",
            (file_id, owner),
        )

    async def finish_processing(
        self,
        file_id: str,
        owner: str,
        status: str,
        status_details: str | None,
        report: str,
        now: int,
    ) -> bool:
        async def finish(c: psycopg.AsyncConnection[Any]) -> bool:
            async with c.transaction():
                cur = await c.execute(
                    "UPDATE files SET status = %s, status_details = %s, lease_owner = NULL, "
                    "lease_until = NULL WHERE id = %s AND lease_owner = %s "
                    "AND status = 'uploaded' AND deleted_at IS NULL RETURNING id",
                    (status, status_details, file_id, owner),
                )
                if await cur.fetchone() is None:
                    return False
                await _upsert_report(c, file_id, report, now)
                return True

        return await self._run(finish)

    async def save_file_report(self, file_id: str, report: str, now: int) -> None:
        await self._run(lambda c: _upsert_report(c, file_id, report, now))

    async def get_file_report(self, file_id: str) -> str | None:
        row = await self._one("SELECT report FROM file_reports WHERE file_id = %s", (file_id,))
        return str(row[0]) if row else None

    # projects and quotas --------------------------------------------------------------------
    # Each quota method is one transaction. Under READ COMMITTED a conditional UPDATE that
    # waits for a concurrent writer of the same projects row re-evaluates its WHERE (FITS)
    # against the committed row, so concurrent reservations never overshoot the quota.
    # Lock order is reservation row first, then projects row, in every method, so two of them
    # cannot deadlock on one reservation.
    async def insert_project(self, record: ProjectRecord) -> None:
        await self._one(
            "INSERT INTO projects (id, name, created_at, archived_at, storage_quota_bytes, "
            "requests_per_minute, uploads_per_minute) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "RETURNING id",
            (
                record.id,
                record.name,
                record.created_at,
                record.archived_at,
                record.storage_quota_bytes,
                record.requests_per_minute,
                record.uploads_per_minute,
            ),
        )

    async def get_project(self, project_id: str) -> ProjectRecord | None:
        row = await self._one(
            f"SELECT {PROJECT_COLUMNS} FROM projects WHERE id = %s", (project_id,)
        )
        return ProjectRecord(*row) if row else None

    async def list_projects(
        self, *, limit: int, after: str | None, include_archived: bool
    ) -> tuple[list[ProjectRecord], bool]:
        async def page(c: psycopg.AsyncConnection[Any]) -> tuple[list[ProjectRecord], bool]:
            where = ["TRUE"]
            params: list[Any] = []
            if not include_archived:
                where.append("archived_at IS NULL")
            if after is not None:
                cur = await c.execute("SELECT created_at, id FROM projects WHERE id = %s", (after,))
                cursor = await cur.fetchone()
                if cursor is None:
                    raise CursorNotFound(after)
                where.append("(created_at, id) > (%s, %s)")
                params.extend(cursor)
            cur = await c.execute(
                f"SELECT {PROJECT_COLUMNS} FROM projects WHERE {' AND '.join(where)} "
                "ORDER BY created_at, id LIMIT %s",
                (*params, limit + 1),
            )
            rows = await cur.fetchall()
            return [ProjectRecord(*r) for r in rows[:limit]], len(rows) > limit

        return await self._run(page)

    async def update_project(self, record: ProjectRecord) -> ProjectRecord | None:
        row = await self._one(
            "UPDATE projects SET name = %s, storage_quota_bytes = %s, requests_per_minute = %s, "
            f"uploads_per_minute = %s WHERE id = %s RETURNING {PROJECT_COLUMNS}",
            (
                record.name,
                record.storage_quota_bytes,
                record.requests_per_minute,
                record.uploads_per_minute,
                record.id,
            ),
        )
        return ProjectRecord(*row) if row else None

    async def archive_project(self, project_id: str, now: int) -> ProjectRecord | None:
        async def archive(c: psycopg.AsyncConnection[Any]) -> ProjectRecord | None:
            async with c.transaction():
                cur = await c.execute(
                    "UPDATE projects SET archived_at = COALESCE(archived_at, %s) WHERE id = %s "
                    f"RETURNING {PROJECT_COLUMNS}",
                    (now, project_id),
                )
                row = await cur.fetchone()
                if row is None:
                    return None
                await c.execute(
                    "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, %s) "
                    "WHERE project_id = %s",
                    (now, project_id),
                )
                return ProjectRecord(*row)

        return await self._run(archive)

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        row = await self._one(f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = %s", (key_id,))
        return _key(row) if row else None

    async def list_project_api_keys(self, project_id: str) -> list[ApiKeyRecord]:
        rows = await self._all(
            f"SELECT {KEY_COLUMNS} FROM api_keys WHERE project_id = %s ORDER BY created_at, id",
            (project_id,),
        )
        return [_key(r) for r in rows]

    async def reserve_quota(self, reservation: Reservation, default_quota: int, now: int) -> bool:
        async def reserve(c: psycopg.AsyncConnection[Any]) -> bool:
            async with c.transaction():
                cur = await c.execute(
                    "UPDATE projects SET reserved_bytes = reserved_bytes + %s "
                    f"WHERE id = %s AND archived_at IS NULL AND {FITS}",
                    (reservation.bytes, reservation.project_id, reservation.bytes, default_quota),
                )
                if cur.rowcount != 1:
                    return False
                await c.execute(
                    "INSERT INTO quota_reservations (id, project_id, bytes, created_at, "
                    "expires_at) VALUES (%s, %s, %s, %s, %s)",
                    (
                        reservation.id,
                        reservation.project_id,
                        reservation.bytes,
                        now,
                        reservation.expires_at,
                    ),
                )
                return True

        return await self._run(reserve)

    async def resize_reservation(
        self, reservation_id: str, nbytes: int, default_quota: int, expires_at: int
    ) -> ResizeOutcome:
        async def resize(c: psycopg.AsyncConnection[Any]) -> ResizeOutcome:
            async with c.transaction():
                # Touching the reservation first locks it against a concurrent release.
                cur = await c.execute(
                    "UPDATE quota_reservations SET expires_at = %s WHERE id = %s "
                    "RETURNING project_id, bytes",
                    (expires_at, reservation_id),
                )
                row = await cur.fetchone()
                if row is None:
                    return "missing"
                project_id, current = row
                delta = nbytes - current
                if delta == 0:
                    return "ok"
                cur = await c.execute(
                    "UPDATE projects SET reserved_bytes = reserved_bytes + %s "
                    f"WHERE id = %s AND (%s <= 0 OR {FITS})",
                    (delta, project_id, delta, delta, default_quota),
                )
                if cur.rowcount != 1:
                    # SQLite keeps the extended lease when the growth does not fit; so do we.
                    return "full"
                await c.execute(
                    "UPDATE quota_reservations SET bytes = %s WHERE id = %s",
                    (nbytes, reservation_id),
                )
                return "ok"

        return await self._run(resize)

    async def insert_file_settling(
        self, record: FileRecord, reservation_id: str, default_quota: int
    ) -> FileRecord | None:
        class _NoRoom(Exception):
            pass

        async def settle(c: psycopg.AsyncConnection[Any]) -> FileRecord | None:
            try:
                async with c.transaction():
                    # The reservation goes first (same lock order as release/resize); then the
                    # insert, whose trigger adds the bytes to used_bytes; the check is on the
                    # counters as they are once the hold is dropped.
                    cur = await c.execute(
                        "DELETE FROM quota_reservations WHERE id = %s RETURNING bytes",
                        (reservation_id,),
                    )
                    held = await cur.fetchone()
                    inserted = await _insert_file_row(c, record)
                    freed = held[0] if held else 0
                    cur = await c.execute(
                        "UPDATE projects SET reserved_bytes = reserved_bytes - %s "
                        f"WHERE id = %s AND {FITS}",
                        (freed, record.project_id, -freed, default_quota),
                    )
                    if cur.rowcount != 1 and held is None:
                        raise _NoRoom  # rolls the insert back
                    if cur.rowcount != 1:
                        # Over only through a lowered quota: the hold was taken, keep the file.
                        await c.execute(
                            "UPDATE projects SET reserved_bytes = reserved_bytes - %s "
                            "WHERE id = %s",
                            (freed, record.project_id),
                        )
                    return inserted
            except _NoRoom:
                return None

        return await self._run(settle)

    async def release_reservation(self, reservation_id: str) -> bool:
        async def release(c: psycopg.AsyncConnection[Any]) -> bool:
            async with c.transaction():
                cur = await c.execute(
                    "DELETE FROM quota_reservations WHERE id = %s RETURNING project_id, bytes",
                    (reservation_id,),
                )
                row = await cur.fetchone()
                if row is None:
                    return False
                await c.execute(
                    "UPDATE projects SET reserved_bytes = reserved_bytes - %s WHERE id = %s",
                    (row[1], row[0]),
                )
                return True

        return await self._run(release)

    async def release_expired_reservations(self, now: int) -> int:
        async def release(c: psycopg.AsyncConnection[Any]) -> int:
            async with c.transaction():
                # SKIP LOCKED: holds another sweeper (or a settling upload) has just taken are
                # left to it, so two sweepers never wait on each other's reservation rows.
                cur = await c.execute(
                    "WITH picked AS MATERIALIZED (SELECT id FROM quota_reservations "
                    "WHERE expires_at <= %s FOR UPDATE SKIP LOCKED) "
                    "DELETE FROM quota_reservations r USING picked WHERE r.id = picked.id "
                    "RETURNING r.project_id, r.bytes",
                    (now,),
                )
                rows = await cur.fetchall()
                totals: dict[str, int] = {}
                for project_id, nbytes in rows:
                    totals[project_id] = totals.get(project_id, 0) + nbytes
                # Projects in id order: two sweepers lock them in the same order.
                for project_id in sorted(totals):
                    await c.execute(
                        "UPDATE projects SET reserved_bytes = reserved_bytes - %s WHERE id = %s",
                        (totals[project_id], project_id),
                    )
                return len(rows)

        return await self._run(release)

    async def project_usage(self, project_id: str, now: int) -> list[PurposeUsage]:
        rows = await self._all(
            "SELECT purpose, COUNT(*), COALESCE(SUM(bytes), 0) FROM files "
            f"WHERE project_id = %s AND {LIVE} GROUP BY purpose ORDER BY purpose",
            (project_id, now),
        )
        return [PurposeUsage(str(p), int(n), int(b)) for p, n, b in rows]

    # uploads -------------------------------------------------------------------------------
    async def insert_upload(self, record: UploadRecord) -> None:
        await self._one(
            f"INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES ({', '.join(['%s'] * 13)}) "
            "RETURNING id",
            (
                record.id,
                record.project_id,
                record.filename,
                record.purpose,
                record.bytes,
                record.mime_type,
                record.created_at,
                record.expires_at,
                record.status,
                record.file_expires_after,
                record.received_bytes,
                record.file_id,
                record.reservation_id,
            ),
        )

    async def get_upload(self, project_id: str, upload_id: str) -> UploadRecord | None:
        row = await self._one(
            f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = %s AND project_id = %s",
            (upload_id, project_id),
        )
        return _upload(row) if row else None

    async def insert_upload_part(self, part: UploadPartRecord, now: int) -> bool:
        async def insert(c: psycopg.AsyncConnection[Any]) -> bool:
            async with c.transaction():
                # The conditional UPDATE locks the Upload row; a concurrent part waits and
                # re-checks the size against the committed received_bytes.
                cur = await c.execute(
                    "UPDATE uploads SET received_bytes = received_bytes + %s "
                    "WHERE id = %s AND status = 'pending' AND expires_at > %s "
                    "AND received_bytes + %s <= bytes",
                    (part.bytes, part.upload_id, now, part.bytes),
                )
                if cur.rowcount != 1:
                    return False
                await c.execute(
                    f"INSERT INTO upload_parts ({PART_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",
                    (
                        part.id,
                        part.upload_id,
                        part.bytes,
                        part.sha256,
                        part.blob_key,
                        part.created_at,
                    ),
                )
                return True

        return await self._run(insert)

    async def list_upload_parts(self, upload_id: str) -> list[UploadPartRecord]:
        rows = await self._all(
            f"SELECT {PART_COLUMNS} FROM upload_parts WHERE upload_id = %s ORDER BY created_at, id",
            (upload_id,),
        )
        return [_part(r) for r in rows]

    async def start_upload_completion(self, upload_id: str, file_id: str) -> bool:
        row = await self._one(
            "UPDATE uploads SET file_id = %s WHERE id = %s AND status = 'pending' RETURNING id",
            (file_id, upload_id),
        )
        return row is not None

    async def finish_upload_completion(self, upload_id: str, file_id: str) -> UploadRecord | None:
        row = await self._one(
            f"UPDATE uploads SET status = 'completed' WHERE id = %s AND file_id = %s "
            f"AND status IN ('pending', 'completed') RETURNING {UPLOAD_COLUMNS}",
            (upload_id, file_id),
        )
        return _upload(row) if row else None

    async def cancel_upload(self, project_id: str, upload_id: str, now: int) -> UploadRecord | None:
        row = await self._one(
            f"UPDATE uploads SET status = 'cancelled' WHERE id = %s AND project_id = %s "
            f"AND status = 'pending' AND expires_at > %s AND NOT {FILE_PUBLISHED} "
            f"RETURNING {UPLOAD_COLUMNS}",
            (upload_id, project_id, now),
        )
        return _upload(row) if row else None

    async def settle_published_uploads(self) -> int:
        async def settle(c: psycopg.AsyncConnection[Any]) -> int:
            cur = await c.execute(
                f"UPDATE uploads SET status = 'completed' WHERE status = 'pending' "
                f"AND file_id IS NOT NULL AND {FILE_PUBLISHED}"
            )
            return cur.rowcount

        return await self._run(settle)

    async def claim_expired_uploads(self, now: int, limit: int) -> int:
        async def claim(c: psycopg.AsyncConnection[Any]) -> int:
            # Same SKIP LOCKED claim shape as the file sweeps: concurrent sweepers split them.
            cur = await c.execute(
                f"WITH picked AS MATERIALIZED (SELECT id FROM uploads WHERE status = 'pending' "
                f"AND expires_at <= %s AND NOT {FILE_PUBLISHED} LIMIT %s FOR UPDATE SKIP LOCKED) "
                "UPDATE uploads SET status = 'expired' FROM picked "
                "WHERE uploads.id = picked.id AND uploads.status = 'pending'",
                (now, limit),
            )
            return cur.rowcount

        return await self._run(claim)

    async def dead_upload_parts(self, limit: int) -> list[UploadPartRecord]:
        rows = await self._all(
            f"SELECT {', '.join('p.' + col for col in PART_COLUMNS.split(', '))} "
            "FROM upload_parts p JOIN uploads u ON u.id = p.upload_id "
            "WHERE u.status <> 'pending' LIMIT %s",
            (limit,),
        )
        return [_part(r) for r in rows]

    async def delete_upload_parts(self, part_ids: list[str]) -> None:
        if part_ids:
            await self._all("DELETE FROM upload_parts WHERE id = ANY(%s) RETURNING id", (part_ids,))

    async def pending_upload_part_keys(self, keys: list[str]) -> set[str]:
        if not keys:
            return set()
        rows = await self._all(
            "SELECT p.blob_key FROM upload_parts p JOIN uploads u ON u.id = p.upload_id "
            "WHERE u.status = 'pending' AND p.blob_key = ANY(%s)",
            (keys,),
        )
        return {r[0] for r in rows}

    async def purge_finished_uploads(self, expired_before: int) -> int:
        async def purge(c: psycopg.AsyncConnection[Any]) -> int:
            cur = await c.execute(
                "DELETE FROM uploads WHERE status <> 'pending' AND expires_at < %s "
                "AND NOT EXISTS (SELECT 1 FROM upload_parts p WHERE p.upload_id = uploads.id)",
                (expired_before,),
            )
            return cur.rowcount

        return await self._run(purge)


def _qualified(columns: str) -> str:
    return ", ".join("files." + c.strip() for c in columns.split(","))


async def _insert_file_row(c: psycopg.AsyncConnection[Any], record: FileRecord) -> FileRecord:
    cur = await c.execute(
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
    row = await cur.fetchone()
    assert row is not None
    return FileRecord(**{**record.__dict__, "seq": row[0]})


async def _upsert_report(
    c: psycopg.AsyncConnection[Any], file_id: str, report: str, now: int
) -> None:
    await c.execute(
        "INSERT INTO file_reports (file_id, report, created_at) VALUES (%s, %s, %s) "
        "ON CONFLICT (file_id) DO UPDATE SET report = excluded.report, "
        "created_at = excluded.created_at",
        (file_id, report, now),
    )
