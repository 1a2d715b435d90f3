"""File rows: inserts, live lookups, keyset listings, tombstones, expiry claims and usage."""

from __future__ import annotations

import functools
import re
from typing import Any, Literal

import msgspec.structs

from filedock.metadata.db import Tx
from filedock.metadata.rows import CursorNotFound, Order, Rows, marks
from filedock.metadata.tables import FILES, LIVE
from filedock.models import FileRecord, Page, PurposeUsage

GET_SQL = f"{FILES.select_sql} WHERE id = ? AND project_id = ? AND {LIVE}"
# Columns a listing may be sorted by (filedock's `sort` extension); ties break on insertion order.
SortKey = Literal["created_at", "filename", "bytes"]
SORT_KEYS: tuple[SortKey, ...] = ("created_at", "filename", "bytes")
CURSOR_SQL = {
    key: f"SELECT {key}, seq FROM files WHERE id = ? AND project_id = ?" for key in SORT_KEYS
}
# Search text shaped like a file id matches that id only: a primary-key lookup, not a scan.
FILE_ID_SHAPE = re.compile(r"file-[A-Za-z0-9]{20,40}")
INSERT_SQL = FILES.insert_sql + " RETURNING seq"
EXPIRED_SQL = (
    "SELECT seq, project_id FROM files WHERE deleted_at IS NULL AND expires_at <= ? "
    "ORDER BY expires_at LIMIT ?"
)


@functools.lru_cache(maxsize=64)
def page_sql(
    order: Order,
    *,
    purpose: bool,
    after: bool,
    sort: SortKey = "created_at",
    status: bool = False,
    search: Literal["", "id", "name"] = "",
    like: str = "LIKE",
) -> str:
    """A listing page: parameters project, now, [purpose], [status], [search: id | id, pattern],
    [cursor sort value, seq], limit.

    In creation order the row-value comparison is an index range scan on
    (project_id, created_at, seq); other sorts read the project's live rows and keep the top page.
    `like` is the engine's case-insensitive LIKE (ILIKE on PostgreSQL).
    """
    direction, compare = ("DESC", "<") if order == "desc" else ("ASC", ">")
    where = f"project_id = ? AND {LIVE}"
    if purpose:
        where += " AND purpose = ?"
    if status:
        where += " AND status = ?"
    if search == "id":
        where += " AND id = ?"
    elif search == "name":
        where += f" AND (id = ? OR filename {like} ? ESCAPE '\\')"
    if after:
        where += f" AND ({sort}, seq) {compare} (?, ?)"
    order_by = f"ORDER BY {sort} {direction}, seq {direction}"
    return f"{FILES.select_sql} WHERE {where} {order_by} LIMIT ?"


def like_pattern(text: str) -> str:
    """`%text%` with LIKE's wildcards taken literally (escape character backslash)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def insert_file_row(tx: Tx, record: FileRecord) -> FileRecord:
    """Insert a file row (on the Database or inside a transaction); the record with its seq."""
    row = await tx.fetch_one(INSERT_SQL, FILES.values(record))
    assert row is not None
    return msgspec.structs.replace(record, seq=row[0])


class FileRows(Rows):
    """Rows of files. A tombstoned row (deleted_at set) stays a valid listing cursor."""

    async def insert_file(self, record: FileRecord) -> FileRecord:
        """Insert a new row; returns it with its insertion sequence number set."""
        return await insert_file_row(self.db, record)

    async def get_file(self, project_id: str, file_id: str, now: int) -> FileRecord | None:
        """A live file (not deleted, not expired at `now`) of the project, or None."""
        row = await self.db.fetch_one(GET_SQL, (file_id, project_id, now))
        return FILES.row(row) if row else None

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
    ) -> Page[FileRecord]:
        """Live files ordered by (`sort`, insertion sequence); keyset-paginated by `after`.

        `status` keeps one status; `search` keeps the file with that id, or the files whose
        filename contains it (case-insensitive). Raises CursorNotFound when `after` names no
        file of the project, live or tombstoned.
        """
        if sort not in SORT_KEYS:
            raise ValueError(f"not a sort key: {sort}")
        params: list[Any] = [project_id, now]
        if purpose is not None:
            params.append(purpose)
        if status is not None:
            params.append(status)
        mode: Literal["", "id", "name"] = ""
        if search and FILE_ID_SHAPE.fullmatch(search):
            mode = "id"
            params.append(search)
        elif search:
            mode = "name"
            params.extend([search, like_pattern(search)])
        if after is not None:
            cursor = await self.db.fetch_one(CURSOR_SQL[sort], (after, project_id))
            if cursor is None:
                raise CursorNotFound(after)
            params.extend(cursor)
        sql = page_sql(
            order,
            purpose=purpose is not None,
            after=after is not None,
            sort=sort,
            status=status is not None,
            search=mode,
            like="ILIKE" if self.db.dialect == "postgresql" else "LIKE",
        )
        rows = await self.db.fetch_all(sql, (*params, limit + 1))
        return Page([FILES.row(r) for r in rows[:limit]], has_more=len(rows) > limit)

    async def mark_file_deleted(self, project_id: str, file_id: str, now: int) -> FileRecord | None:
        """Turn a live file into a tombstone (its id stays a valid cursor); None if not live."""
        row = await self.db.fetch_one(
            f"UPDATE files SET deleted_at = ? WHERE id = ? AND project_id = ? AND {LIVE} "
            f"RETURNING {FILES.columns}",
            (now, file_id, project_id, now),
        )
        return FILES.row(row) if row else None

    async def update_file_status(
        self, file_id: str, status: str, status_details: str | None
    ) -> None:
        """Set a file's processing status."""
        await self.db.execute(
            "UPDATE files SET status = ?, status_details = ? WHERE id = ?",
            (status, status_details, file_id),
        )

    async def claim_expired_files(self, now: int, limit: int) -> list[FileRecord]:
        """Atomically tombstone up to `limit` files expired at `now` and return them (each once).

        SKIP LOCKED (PostgreSQL) leaves rows another server is claiming to it. Tombstoning fires
        the usage trigger, which updates each file's projects row; a sweep spanning several
        projects would lock those rows in whatever order the UPDATE visits the files, and two
        sweepers could deadlock. So: lock the picked files, then their projects in id order,
        then tombstone.
        """
        async with self.db.transaction() as tx:
            picked = await self._pick(tx, EXPIRED_SQL, (now, limit))
            if not picked:
                return []
            projects = sorted({project for _, project in picked})
            await tx.fetch_all(
                f"SELECT id FROM projects WHERE id IN ({marks(len(projects))}) "
                f"ORDER BY id{self.db.for_update}",
                projects,
            )
            rows = await tx.fetch_all(
                f"UPDATE files SET deleted_at = ? WHERE seq IN ({marks(len(picked))}) "
                f"AND deleted_at IS NULL RETURNING {FILES.columns}",
                (now, *(seq for seq, _ in picked)),
            )
        return [FILES.row(r) for r in rows]

    async def purge_tombstones(self, deleted_before: int) -> int:
        """Remove tombstone rows deleted before the given time."""
        return await self.db.execute(
            "DELETE FROM files WHERE deleted_at IS NOT NULL AND deleted_at < ?",
            (deleted_before,),
        )

    async def project_usage(self, project_id: str, now: int) -> list[PurposeUsage]:
        """Live files of the project grouped by purpose, in purpose order."""
        return await self._usage("project_id = ? AND ", (project_id, now))

    async def usage_by_purpose(self, now: int) -> list[tuple[str, int, int]]:
        """(purpose, live files, stored bytes) over every project, for the metrics scrape."""
        return [(u.purpose, u.file_count, u.bytes) for u in await self._usage("", (now,))]

    async def _usage(self, scope: str, params: tuple[Any, ...]) -> list[PurposeUsage]:
        rows = await self.db.fetch_all(
            "SELECT purpose, COUNT(*), COALESCE(SUM(bytes), 0) FROM files "
            f"WHERE {scope}{LIVE} GROUP BY purpose ORDER BY purpose",
            params,
        )
        # int(): PostgreSQL's SUM of a bigint is a numeric (Decimal).
        return [PurposeUsage(bytes=int(b), file_count=int(n), purpose=str(p)) for p, n, b in rows]
