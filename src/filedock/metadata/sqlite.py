"""SQLite metadata: one connection per worker thread, WAL mode, every call off the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread

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
# Threads (each with its own connection) that run the statements of one store.
THREADS = 8

FILE_COLUMNS = (
    "id, project_id, purpose, filename, bytes, created_at, expires_at, status, "
    "status_details, sha256, blob_key, seq"
)
KEY_COLUMNS = "id, project_id, name, prefix, key_hash, created_at, revoked_at, expires_at, role"
PROJECT_COLUMNS = (
    "id, name, created_at, archived_at, storage_quota_bytes, requests_per_minute, "
    "uploads_per_minute, used_bytes, reserved_bytes"
)
FITS = "used_bytes + reserved_bytes + ? <= COALESCE(storage_quota_bytes, ?)"
LIVE = "deleted_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
UPLOAD_COLUMNS = (
    "id, project_id, filename, purpose, bytes, mime_type, created_at, expires_at, status, "
    "file_expires_after, received_bytes, file_id, reservation_id"
)
PART_COLUMNS = "id, upload_id, bytes, sha256, blob_key, created_at"
# The Upload's recorded File exists: a completion got as far as publishing it.
FILE_PUBLISHED = (
    "EXISTS (SELECT 1 FROM files WHERE files.id = uploads.file_id AND files.deleted_at IS NULL)"
)


def _file(row: tuple[Any, ...]) -> FileRecord:
    return FileRecord(*row)


def _key(row: tuple[Any, ...]) -> ApiKeyRecord:
    return ApiKeyRecord(*row)


def _upload(row: tuple[Any, ...]) -> UploadRecord:
    return UploadRecord(*row)


def _part(row: tuple[Any, ...]) -> UploadPartRecord:
    return UploadPartRecord(*row)


class SqliteMetadataStore(MetadataStore):
    """Rows in one SQLite file; `url` is `sqlite:///absolute/or/relative/path`."""

    def __init__(self, url: str) -> None:
        if not url.startswith("sqlite:///"):
            raise ValueError(f"not a sqlite URL: {url}")
        self.url = url
        self.path = Path(url.removeprefix("sqlite:///"))
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="sqlite")

    # connection handling -------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            try:
                return fn(self._conn())
            except sqlite3.Error as exc:
                raise MetadataError(f"Metadata database error: {exc}") from exc

        # The store's own threads: close() can then wait until no statement is running before it
        # closes the connections (closing one under a running statement crashes the process).
        future = asyncio.get_running_loop().run_in_executor(self._executor, call)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # A cancelled caller still lets its statement finish, so clean-up sees its effect.
            await asyncio.wait([future])
            raise

    async def open(self) -> None:
        def prepare() -> None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            migrate.upgrade(self.url)

        try:
            await anyio.to_thread.run_sync(prepare)
        except Exception as exc:
            raise MetadataError(f"Cannot open metadata database {self.url}: {exc}") from exc

    async def close(self) -> None:
        executor, self._executor = (
            self._executor,
            ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="sqlite"),
        )
        # Wait for running statements and stop the threads before closing their connections.
        await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.ProgrammingError):
                    conn.close()
            self._connections.clear()
        self._local = threading.local()

    async def ping(self) -> None:
        await self._run(lambda c: c.execute("SELECT 1").fetchone())

    # files ---------------------------------------------------------------------------------
    async def insert_file(self, record: FileRecord) -> FileRecord:
        return await self._run(lambda c: _insert_file_row(c, record))

    async def get_file(self, project_id: str, file_id: str, now: int) -> FileRecord | None:
        def get(c: sqlite3.Connection) -> FileRecord | None:
            row = c.execute(
                f"SELECT {FILE_COLUMNS} FROM files WHERE id = ? AND project_id = ? AND {LIVE}",
                (file_id, project_id, now),
            ).fetchone()
            return _file(row) if row else None

        return await self._run(get)

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
        filters, filter_params = listing_filters(status, search, "?", "LIKE")

        def page(c: sqlite3.Connection) -> FilePage:
            where = ["project_id = ?", LIVE]
            params: list[Any] = [project_id, now]
            if purpose is not None:
                where.append("purpose = ?")
                params.append(purpose)
            where.extend(filters)
            params.extend(filter_params)
            if after is not None:
                cursor = c.execute(
                    f"SELECT {sort}, seq FROM files WHERE id = ? AND project_id = ?",
                    (after, project_id),
                ).fetchone()
                if cursor is None:
                    raise CursorNotFound(after)
                where.append(f"({sort}, seq) {compare} (?, ?)")
                params.extend(cursor)
            sql = (
                f"SELECT {FILE_COLUMNS} FROM files WHERE {' AND '.join(where)} "
                f"ORDER BY {sort} {direction}, seq {direction} LIMIT ?"
            )
            rows = c.execute(sql, (*params, limit + 1)).fetchall()
            return FilePage([_file(r) for r in rows[:limit]], has_more=len(rows) > limit)

        return await self._run(page)

    async def mark_file_deleted(self, project_id: str, file_id: str, now: int) -> FileRecord | None:
        def mark(c: sqlite3.Connection) -> FileRecord | None:
            row = c.execute(
                f"UPDATE files SET deleted_at = ? WHERE id = ? AND project_id = ? AND {LIVE} "
                f"RETURNING {FILE_COLUMNS}",
                (now, file_id, project_id, now),
            ).fetchone()
            return _file(row) if row else None

        return await self._run(mark)

    async def update_file_status(
        self, file_id: str, status: str, status_details: str | None
    ) -> None:
        await self._run(
            lambda c: c.execute(
                "UPDATE files SET status = ?, status_details = ? WHERE id = ?",
                (status, status_details, file_id),
            )
        )

    async def claim_expired_files(self, now: int, limit: int) -> list[FileRecord]:
        def claim(c: sqlite3.Connection) -> list[FileRecord]:
            rows = c.execute(
                f"UPDATE files SET deleted_at = ? WHERE seq IN ("
                f"SELECT seq FROM files WHERE deleted_at IS NULL AND expires_at <= ? LIMIT ?) "
                f"RETURNING {FILE_COLUMNS}",
                (now, now, limit),
            ).fetchall()
            return [_file(r) for r in rows]

        return await self._run(claim)

    async def purge_tombstones(self, deleted_before: int) -> int:
        return await self._run(
            lambda c: (
                c.execute(
                    "DELETE FROM files WHERE deleted_at IS NOT NULL AND deleted_at < ?",
                    (deleted_before,),
                ).rowcount
            )
        )

    async def live_blob_keys(self, keys: list[str]) -> set[str]:
        def find(c: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(keys), 500):
                batch = keys[start : start + 500]
                marks = ",".join("?" * len(batch))
                found.update(
                    r[0]
                    for r in c.execute(
                        f"SELECT blob_key FROM files WHERE deleted_at IS NULL "
                        f"AND blob_key IN ({marks})",
                        batch,
                    )
                )
            return found

        return await self._run(find)

    # API keys ------------------------------------------------------------------------------
    async def insert_api_key(self, record: ApiKeyRecord) -> None:
        await self._run(
            lambda c: c.execute(
                f"INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        )

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        def find(c: sqlite3.Connection) -> ApiKeyRecord | None:
            row = c.execute(
                f"SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = ?", (key_hash,)
            ).fetchone()
            return _key(row) if row else None

        return await self._run(find)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        return await self._run(
            lambda c: [
                _key(r)
                for r in c.execute(f"SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id")
            ]
        )

    async def revoke_api_key(self, key_id_or_prefix: str, now: int) -> ApiKeyRecord | None:
        def revoke(c: sqlite3.Connection) -> ApiKeyRecord | None:
            row = c.execute(
                f"UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) "
                f"WHERE id = ? OR prefix = ? RETURNING {KEY_COLUMNS}",
                (now, key_id_or_prefix, key_id_or_prefix),
            ).fetchone()
            return _key(row) if row else None

        return await self._run(revoke)

    # metrics -------------------------------------------------------------------------------
    async def usage_by_purpose(self, now: int) -> list[tuple[str, int, int]]:
        return await self._run(
            lambda c: [
                (str(r[0]), int(r[1]), int(r[2]))
                for r in c.execute(
                    f"SELECT purpose, COUNT(*), COALESCE(SUM(bytes), 0) FROM files "
                    f"WHERE {LIVE} GROUP BY purpose ORDER BY purpose",
                    (now,),
                )
            ]
        )

    # projects and quotas --------------------------------------------------------------------
    @staticmethod
    def _transaction(c: sqlite3.Connection, fn: Callable[[], T]) -> T:
        # IMMEDIATE takes the write lock up front, so the read-then-write steps inside cannot
        # interleave with another connection's.
        c.execute("BEGIN IMMEDIATE")
        try:
            result = fn()
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")
        return result

    async def insert_project(self, record: ProjectRecord) -> None:
        await self._run(
            lambda c: c.execute(
                "INSERT INTO projects (id, name, created_at, archived_at, storage_quota_bytes, "
                "requests_per_minute, uploads_per_minute) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        )

    async def get_project(self, project_id: str) -> ProjectRecord | None:
        def get(c: sqlite3.Connection) -> ProjectRecord | None:
            row = c.execute(
                f"SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ?", (project_id,)
            ).fetchone()
            return ProjectRecord(*row) if row else None

        return await self._run(get)

    async def list_projects(
        self, *, limit: int, after: str | None, include_archived: bool
    ) -> tuple[list[ProjectRecord], bool]:
        def page(c: sqlite3.Connection) -> tuple[list[ProjectRecord], bool]:
            where = ["1 = 1"]
            params: list[Any] = []
            if not include_archived:
                where.append("archived_at IS NULL")
            if after is not None:
                cursor = c.execute(
                    "SELECT created_at, id FROM projects WHERE id = ?", (after,)
                ).fetchone()
                if cursor is None:
                    raise CursorNotFound(after)
                where.append("(created_at, id) > (?, ?)")
                params.extend(cursor)
            rows = c.execute(
                f"SELECT {PROJECT_COLUMNS} FROM projects WHERE {' AND '.join(where)} "
                "ORDER BY created_at, id LIMIT ?",
                (*params, limit + 1),
            ).fetchall()
            return [ProjectRecord(*r) for r in rows[:limit]], len(rows) > limit

        return await self._run(page)

    async def update_project(self, record: ProjectRecord) -> ProjectRecord | None:
        def update(c: sqlite3.Connection) -> ProjectRecord | None:
            row = c.execute(
                "UPDATE projects SET name = ?, storage_quota_bytes = ?, requests_per_minute = ?, "
                f"uploads_per_minute = ? WHERE id = ? RETURNING {PROJECT_COLUMNS}",
                (
                    record.name,
                    record.storage_quota_bytes,
                    record.requests_per_minute,
                    record.uploads_per_minute,
                    record.id,
                ),
            ).fetchone()
            return ProjectRecord(*row) if row else None

        return await self._run(update)

    async def archive_project(self, project_id: str, now: int) -> ProjectRecord | None:
        def archive(c: sqlite3.Connection) -> ProjectRecord | None:
            row = c.execute(
                "UPDATE projects SET archived_at = COALESCE(archived_at, ?) WHERE id = ? "
                f"RETURNING {PROJECT_COLUMNS}",
                (now, project_id),
            ).fetchone()
            if row is None:
                return None
            c.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE project_id = ?",
                (now, project_id),
            )
            return ProjectRecord(*row)

        return await self._run(lambda c: self._transaction(c, lambda: archive(c)))

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        def get(c: sqlite3.Connection) -> ApiKeyRecord | None:
            row = c.execute(
                f"SELECT {KEY_COLUMNS} FROM api_keys WHERE id = ?", (key_id,)
            ).fetchone()
            return _key(row) if row else None

        return await self._run(get)

    async def list_project_api_keys(self, project_id: str) -> list[ApiKeyRecord]:
        return await self._run(
            lambda c: [
                _key(r)
                for r in c.execute(
                    f"SELECT {KEY_COLUMNS} FROM api_keys WHERE project_id = ? "
                    "ORDER BY created_at, id",
                    (project_id,),
                )
            ]
        )

    # processing ----------------------------------------------------------------------------
    async def claim_files_for_processing(
        self, owner: str, now: int, lease_until: int, limit: int
    ) -> list[FileRecord]:
        # The outer WHERE repeats the claimable condition so that on PostgreSQL a concurrent
        # claimant re-checks it against the updated row and skips files just leased by another.
        claimable = (
            "status = 'uploaded' AND deleted_at IS NULL "
            "AND (lease_until IS NULL OR lease_until <= ?)"
        )

        def claim(c: sqlite3.Connection) -> list[FileRecord]:
            rows = c.execute(
                f"UPDATE files SET lease_owner = ?, lease_until = ? "
                f"WHERE {claimable} AND seq IN ("
                f"SELECT seq FROM files WHERE {claimable} ORDER BY seq LIMIT ?) "
                f"RETURNING {FILE_COLUMNS}",
                (owner, lease_until, now, now, limit),
            ).fetchall()
            return sorted((_file(r) for r in rows), key=lambda r: r.seq)

        return await self._run(claim)

    async def renew_processing_lease(self, file_id: str, owner: str, lease_until: int) -> bool:
        return await self._run(
            lambda c: (
                c.execute(
                    "UPDATE files SET lease_until = ? WHERE id = ? AND lease_owner = ? "
                    "AND status = 'uploaded'",
                    (lease_until, file_id, owner),
                ).rowcount
                > 0
            )
        )

    async def release_processing_lease(self, file_id: str, owner: str) -> None:
        await self._run(
            lambda c: c.execute(
                "UPDATE files SET lease_owner = NULL, lease_until = NULL "
                "WHERE id = ? AND lease_owner = ?",
                (file_id, owner),
            )
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
        def finish(c: sqlite3.Connection) -> bool:
            c.execute("BEGIN")
            try:
                row = c.execute(
                    "UPDATE files SET status = ?, status_details = ?, lease_owner = NULL, "
                    "lease_until = NULL WHERE id = ? AND lease_owner = ? "
                    "AND status = 'uploaded' AND deleted_at IS NULL RETURNING id",
                    (status, status_details, file_id, owner),
                ).fetchone()
                if row is not None:
                    _upsert_report(c, file_id, report, now)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            return row is not None

        return await self._run(finish)

    async def save_file_report(self, file_id: str, report: str, now: int) -> None:
        await self._run(lambda c: _upsert_report(c, file_id, report, now))

    async def get_file_report(self, file_id: str) -> str | None:
        def get(c: sqlite3.Connection) -> str | None:
            row = c.execute(
                "SELECT report FROM file_reports WHERE file_id = ?", (file_id,)
            ).fetchone()
            return str(row[0]) if row else None

        return await self._run(get)

    async def reserve_quota(self, reservation: Reservation, default_quota: int, now: int) -> bool:
        def reserve(c: sqlite3.Connection) -> bool:
            held = c.execute(
                "UPDATE projects SET reserved_bytes = reserved_bytes + ? "
                f"WHERE id = ? AND archived_at IS NULL AND {FITS}",
                (reservation.bytes, reservation.project_id, reservation.bytes, default_quota),
            ).rowcount
            if held != 1:
                return False
            c.execute(
                "INSERT INTO quota_reservations (id, project_id, bytes, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (
                    reservation.id,
                    reservation.project_id,
                    reservation.bytes,
                    now,
                    reservation.expires_at,
                ),
            )
            return True

        return await self._run(lambda c: self._transaction(c, lambda: reserve(c)))

    async def resize_reservation(
        self, reservation_id: str, nbytes: int, default_quota: int, expires_at: int
    ) -> ResizeOutcome:
        def resize(c: sqlite3.Connection) -> ResizeOutcome:
            # Touching the row first locks it (on PostgreSQL too) against a concurrent release.
            row = c.execute(
                "UPDATE quota_reservations SET expires_at = ? WHERE id = ? "
                "RETURNING project_id, bytes",
                (expires_at, reservation_id),
            ).fetchone()
            if row is None:
                return "missing"
            project_id, current = row
            delta = nbytes - current
            if delta == 0:
                return "ok"
            changed = c.execute(
                "UPDATE projects SET reserved_bytes = reserved_bytes + ? "
                f"WHERE id = ? AND (? <= 0 OR {FITS})",
                (delta, project_id, delta, delta, default_quota),
            ).rowcount
            if changed != 1:
                return "full"
            c.execute(
                "UPDATE quota_reservations SET bytes = ? WHERE id = ?", (nbytes, reservation_id)
            )
            return "ok"

        return await self._run(lambda c: self._transaction(c, lambda: resize(c)))

    async def insert_file_settling(
        self, record: FileRecord, reservation_id: str, default_quota: int
    ) -> FileRecord | None:
        class _NoRoom(Exception):
            pass

        def settle(c: sqlite3.Connection) -> FileRecord:
            inserted = _insert_file_row(c, record)
            held = c.execute(
                "DELETE FROM quota_reservations WHERE id = ? RETURNING bytes", (reservation_id,)
            ).fetchone()
            # The insert trigger already added the bytes to used_bytes; the check is on the
            # counters as they will be once the hold is dropped.
            freed = held[0] if held else 0
            fits = c.execute(
                f"UPDATE projects SET reserved_bytes = reserved_bytes - ? WHERE id = ? AND {FITS}",
                (freed, record.project_id, -freed, default_quota),
            ).rowcount
            if fits != 1 and held is None:
                raise _NoRoom
            if fits != 1:  # over only through a lowered quota: the hold was taken, keep the file
                c.execute(
                    "UPDATE projects SET reserved_bytes = reserved_bytes - ? WHERE id = ?",
                    (held[0], record.project_id),
                )
            return inserted

        def run(c: sqlite3.Connection) -> FileRecord | None:
            try:
                return self._transaction(c, lambda: settle(c))
            except _NoRoom:
                return None

        return await self._run(run)

    async def release_reservation(self, reservation_id: str) -> bool:
        def release(c: sqlite3.Connection) -> bool:
            row = c.execute(
                "DELETE FROM quota_reservations WHERE id = ? RETURNING project_id, bytes",
                (reservation_id,),
            ).fetchone()
            if row is None:
                return False
            c.execute(
                "UPDATE projects SET reserved_bytes = reserved_bytes - ? WHERE id = ?",
                (row[1], row[0]),
            )
            return True

        return await self._run(lambda c: self._transaction(c, lambda: release(c)))

    async def release_expired_reservations(self, now: int) -> int:
        def release(c: sqlite3.Connection) -> int:
            rows = c.execute(
                "DELETE FROM quota_reservations WHERE expires_at <= ? RETURNING project_id, bytes",
                (now,),
            ).fetchall()
            totals: dict[str, int] = {}
            for project_id, nbytes in rows:
                totals[project_id] = totals.get(project_id, 0) + nbytes
            for project_id, nbytes in totals.items():
                c.execute(
                    "UPDATE projects SET reserved_bytes = reserved_bytes - ? WHERE id = ?",
                    (nbytes, project_id),
                )
            return len(rows)

        return await self._run(lambda c: self._transaction(c, lambda: release(c)))

    async def project_usage(self, project_id: str, now: int) -> list[PurposeUsage]:
        return await self._run(
            lambda c: [
                PurposeUsage(purpose, count, total)
                for purpose, count, total in c.execute(
                    "SELECT purpose, COUNT(*), COALESCE(SUM(bytes), 0) FROM files "
                    f"WHERE project_id = ? AND {LIVE} GROUP BY purpose ORDER BY purpose",
                    (project_id, now),
                )
            ]
        )

    # uploads -------------------------------------------------------------------------------
    async def insert_upload(self, record: UploadRecord) -> None:
        await self._run(
            lambda c: c.execute(
                f"INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES ({', '.join('?' * 13)})",
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
        )

    async def get_upload(self, project_id: str, upload_id: str) -> UploadRecord | None:
        def get(c: sqlite3.Connection) -> UploadRecord | None:
            row = c.execute(
                f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = ? AND project_id = ?",
                (upload_id, project_id),
            ).fetchone()
            return _upload(row) if row else None

        return await self._run(get)

    async def insert_upload_part(self, part: UploadPartRecord, now: int) -> bool:
        def insert(c: sqlite3.Connection) -> bool:
            # IMMEDIATE takes the write lock up front, so the check-and-add is one step.
            c.execute("BEGIN IMMEDIATE")
            try:
                reserved = c.execute(
                    "UPDATE uploads SET received_bytes = received_bytes + ? "
                    "WHERE id = ? AND status = 'pending' AND expires_at > ? "
                    "AND received_bytes + ? <= bytes",
                    (part.bytes, part.upload_id, now, part.bytes),
                ).rowcount
                if reserved == 1:
                    c.execute(
                        f"INSERT INTO upload_parts ({PART_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            part.id,
                            part.upload_id,
                            part.bytes,
                            part.sha256,
                            part.blob_key,
                            part.created_at,
                        ),
                    )
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            return reserved == 1

        return await self._run(insert)

    async def list_upload_parts(self, upload_id: str) -> list[UploadPartRecord]:
        return await self._run(
            lambda c: [
                _part(r)
                for r in c.execute(
                    f"SELECT {PART_COLUMNS} FROM upload_parts WHERE upload_id = ? "
                    "ORDER BY created_at, id",
                    (upload_id,),
                )
            ]
        )

    async def start_upload_completion(self, upload_id: str, file_id: str) -> bool:
        return await self._run(
            lambda c: (
                c.execute(
                    "UPDATE uploads SET file_id = ? WHERE id = ? AND status = 'pending'",
                    (file_id, upload_id),
                ).rowcount
                == 1
            )
        )

    async def finish_upload_completion(self, upload_id: str, file_id: str) -> UploadRecord | None:
        def finish(c: sqlite3.Connection) -> UploadRecord | None:
            row = c.execute(
                f"UPDATE uploads SET status = 'completed' WHERE id = ? AND file_id = ? "
                f"AND status IN ('pending', 'completed') RETURNING {UPLOAD_COLUMNS}",
                (upload_id, file_id),
            ).fetchone()
            return _upload(row) if row else None

        return await self._run(finish)

    async def cancel_upload(self, project_id: str, upload_id: str, now: int) -> UploadRecord | None:
        def cancel(c: sqlite3.Connection) -> UploadRecord | None:
            row = c.execute(
                f"UPDATE uploads SET status = 'cancelled' WHERE id = ? AND project_id = ? "
                f"AND status = 'pending' AND expires_at > ? AND NOT {FILE_PUBLISHED} "
                f"RETURNING {UPLOAD_COLUMNS}",
                (upload_id, project_id, now),
            ).fetchone()
            return _upload(row) if row else None

        return await self._run(cancel)

    async def settle_published_uploads(self) -> int:
        return await self._run(
            lambda c: (
                c.execute(
                    f"UPDATE uploads SET status = 'completed' WHERE status = 'pending' "
                    f"AND file_id IS NOT NULL AND {FILE_PUBLISHED}"
                ).rowcount
            )
        )

    async def claim_expired_uploads(self, now: int, limit: int) -> int:
        return await self._run(
            lambda c: (
                c.execute(
                    f"UPDATE uploads SET status = 'expired' WHERE id IN ("
                    f"SELECT id FROM uploads WHERE status = 'pending' AND expires_at <= ? "
                    f"AND NOT {FILE_PUBLISHED} LIMIT ?)",
                    (now, limit),
                ).rowcount
            )
        )

    async def dead_upload_parts(self, limit: int) -> list[UploadPartRecord]:
        return await self._run(
            lambda c: [
                _part(r)
                for r in c.execute(
                    f"SELECT {', '.join('p.' + col for col in PART_COLUMNS.split(', '))} "
                    "FROM upload_parts p JOIN uploads u ON u.id = p.upload_id "
                    "WHERE u.status <> 'pending' LIMIT ?",
                    (limit,),
                )
            ]
        )

    async def delete_upload_parts(self, part_ids: list[str]) -> None:
        def delete(c: sqlite3.Connection) -> None:
            for start in range(0, len(part_ids), 500):
                batch = part_ids[start : start + 500]
                marks = ",".join("?" * len(batch))
                c.execute(f"DELETE FROM upload_parts WHERE id IN ({marks})", batch)

        await self._run(delete)

    async def pending_upload_part_keys(self, keys: list[str]) -> set[str]:
        def find(c: sqlite3.Connection) -> set[str]:
            found: set[str] = set()
            for start in range(0, len(keys), 500):
                batch = keys[start : start + 500]
                marks = ",".join("?" * len(batch))
                found.update(
                    r[0]
                    for r in c.execute(
                        "SELECT p.blob_key FROM upload_parts p JOIN uploads u "
                        f"ON u.id = p.upload_id WHERE u.status = 'pending' "
                        f"AND p.blob_key IN ({marks})",
                        batch,
                    )
                )
            return found

        return await self._run(find)

    async def purge_finished_uploads(self, expired_before: int) -> int:
        return await self._run(
            lambda c: (
                c.execute(
                    "DELETE FROM uploads WHERE status <> 'pending' AND expires_at < ? "
                    "AND NOT EXISTS (SELECT 1 FROM upload_parts p WHERE p.upload_id = uploads.id)",
                    (expired_before,),
                ).rowcount
            )
        )


def _insert_file_row(c: sqlite3.Connection, record: FileRecord) -> FileRecord:
    cur = c.execute(
        "INSERT INTO files (id, project_id, purpose, filename, bytes, created_at, "
        "expires_at, status, status_details, sha256, blob_key) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
    seq = cur.lastrowid
    assert seq is not None
    return FileRecord(**{**record.__dict__, "seq": seq})


def _upsert_report(c: sqlite3.Connection, file_id: str, report: str, now: int) -> None:
    c.execute(
        "INSERT INTO file_reports (file_id, report, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT (file_id) DO UPDATE SET report = excluded.report, "
        "created_at = excluded.created_at",
        (file_id, report, now),
    )
