"""Project rows and their storage quota: counters, reservations, settling inserts.

A project's `used_bytes` follows its live file rows (kept by the database, see migration 0004);
`reserved_bytes` is the sum of its quota reservations. Every quota method is one transaction
that checks `used_bytes + reserved_bytes + n <= quota` in the UPDATE itself: under READ
COMMITTED (PostgreSQL) a conditional UPDATE that waits for a concurrent writer of the same
projects row re-evaluates that check against the committed row, so concurrent reservations
never overshoot. Locks are taken reservation row first, then projects row, in every method,
and several projects rows in id order, so no two of them deadlock.
"""

from __future__ import annotations

from typing import Any

from filedock.metadata.files import insert_file_row
from filedock.metadata.rows import CursorNotFound, ResizeOutcome, Rows, batches, marks
from filedock.metadata.tables import PROJECTS, RESERVATIONS, ReservationRow
from filedock.models import FileRecord, ProjectRecord, Reservation

FITS = "used_bytes + reserved_bytes + ? <= COALESCE(storage_quota_bytes, ?)"
GIVE_BACK = "UPDATE projects SET reserved_bytes = reserved_bytes - ? WHERE id = ?"


class _NoRoom(Exception):
    """Rolls a settling insert back: the file does not fit."""


class ProjectRows(Rows):
    """Rows of projects and of the quota reservations held against them."""

    async def insert_project(self, record: ProjectRecord) -> None:
        """Store a new project (its counters start at zero)."""
        await self.db.execute(PROJECTS.insert_sql, PROJECTS.values(record))

    async def get_project(self, project_id: str) -> ProjectRecord | None:
        """The project (archived or not), or None."""
        row = await self.db.fetch_one(f"{PROJECTS.select_sql} WHERE id = ?", (project_id,))
        return PROJECTS.row(row) if row else None

    async def list_projects(
        self, *, limit: int, after: str | None, include_archived: bool
    ) -> tuple[list[ProjectRecord], bool]:
        """Projects by (created_at, id) after the project `after`; and whether more follow."""
        where = ["1 = 1"]
        params: list[Any] = []
        if not include_archived:
            where.append("archived_at IS NULL")
        if after is not None:
            cursor = await self.db.fetch_one(
                "SELECT created_at, id FROM projects WHERE id = ?", (after,)
            )
            if cursor is None:
                raise CursorNotFound(after)
            where.append("(created_at, id) > (?, ?)")
            params.extend(cursor)
        rows = await self.db.fetch_all(
            f"{PROJECTS.select_sql} WHERE {' AND '.join(where)} ORDER BY created_at, id LIMIT ?",
            (*params, limit + 1),
        )
        return [PROJECTS.row(r) for r in rows[:limit]], len(rows) > limit

    async def update_project(self, record: ProjectRecord) -> ProjectRecord | None:
        """Write name and limits (not the counters) of an existing project; None if none."""
        row = await self.db.fetch_one(
            "UPDATE projects SET name = ?, storage_quota_bytes = ?, requests_per_minute = ?, "
            f"uploads_per_minute = ? WHERE id = ? RETURNING {PROJECTS.columns}",
            (
                record.name,
                record.storage_quota_bytes,
                record.requests_per_minute,
                record.uploads_per_minute,
                record.id,
            ),
        )
        return PROJECTS.row(row) if row else None

    async def archive_project(self, project_id: str, now: int) -> ProjectRecord | None:
        """Archive the project and revoke all its keys in one transaction; None if no project."""
        async with self.db.transaction() as tx:
            row = await tx.fetch_one(
                "UPDATE projects SET archived_at = COALESCE(archived_at, ?) WHERE id = ? "
                f"RETURNING {PROJECTS.columns}",
                (now, project_id),
            )
            if row is None:
                return None
            await tx.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE project_id = ?",
                (now, project_id),
            )
        return PROJECTS.row(row)

    # quotas -------------------------------------------------------------------------------
    async def reserve_quota(self, reservation: Reservation, default_quota: int, now: int) -> bool:
        """Hold `reservation.bytes` for its project if they fit under the quota; False if not."""
        async with self.db.transaction() as tx:
            held = await tx.execute(
                "UPDATE projects SET reserved_bytes = reserved_bytes + ? "
                f"WHERE id = ? AND archived_at IS NULL AND {FITS}",
                (reservation.bytes, reservation.project_id, reservation.bytes, default_quota),
            )
            if held != 1:
                return False
            row = ReservationRow(
                reservation.id,
                reservation.project_id,
                reservation.bytes,
                now,
                reservation.expires_at,
            )
            await tx.execute(RESERVATIONS.insert_sql, RESERVATIONS.values(row))
        return True

    async def resize_reservation(
        self, reservation_id: str, nbytes: int, default_quota: int, expires_at: int
    ) -> ResizeOutcome:
        """Set a reservation's size (growing only if it fits) and extend its lease.

        The lease is extended even when the growth does not fit ("full").
        """
        async with self.db.transaction() as tx:
            # Touching the reservation first locks it against a concurrent release.
            row = await tx.fetch_one(
                "UPDATE quota_reservations SET expires_at = ? WHERE id = ? "
                "RETURNING project_id, bytes",
                (expires_at, reservation_id),
            )
            if row is None:
                return "missing"
            project_id, current = row
            delta = nbytes - current
            if delta == 0:
                return "ok"
            changed = await tx.execute(
                "UPDATE projects SET reserved_bytes = reserved_bytes + ? "
                f"WHERE id = ? AND (? <= 0 OR {FITS})",
                (delta, project_id, delta, delta, default_quota),
            )
            if changed != 1:
                return "full"
            await tx.execute(
                "UPDATE quota_reservations SET bytes = ? WHERE id = ?", (nbytes, reservation_id)
            )
        return "ok"

    async def insert_file_settling(
        self, record: FileRecord, reservation_id: str, default_quota: int
    ) -> FileRecord | None:
        """Insert a file row and drop its reservation in one transaction, so its bytes move from
        reserved to used without ever counting twice. If the reservation is gone, insert only if
        the file still fits; None (nothing inserted) if it does not."""
        try:
            async with self.db.transaction() as tx:
                # The reservation goes first (same lock order as release/resize); then the
                # insert, whose trigger adds the bytes to used_bytes; the check is on the
                # counters as they are once the hold is dropped.
                held = await tx.fetch_one(
                    "DELETE FROM quota_reservations WHERE id = ? RETURNING bytes",
                    (reservation_id,),
                )
                inserted = await insert_file_row(tx, record)
                freed = held[0] if held else 0
                fits = await tx.execute(
                    "UPDATE projects SET reserved_bytes = reserved_bytes - ? "
                    f"WHERE id = ? AND {FITS}",
                    (freed, record.project_id, -freed, default_quota),
                )
                if fits != 1 and held is None:
                    raise _NoRoom  # rolls the insert back
                if fits != 1:
                    # Over only through a lowered quota: the hold was taken, keep the file.
                    await tx.execute(GIVE_BACK, (freed, record.project_id))
        except _NoRoom:
            return None
        return inserted

    async def release_reservation(self, reservation_id: str) -> bool:
        """Drop a reservation and give its bytes back; False if it was already gone."""
        async with self.db.transaction() as tx:
            row = await tx.fetch_one(
                "DELETE FROM quota_reservations WHERE id = ? RETURNING project_id, bytes",
                (reservation_id,),
            )
            if row is None:
                return False
            await tx.execute(GIVE_BACK, (row[1], row[0]))
        return True

    async def release_expired_reservations(self, now: int) -> int:
        """Drop every reservation whose lease ended before `now` (crashed uploads)."""
        async with self.db.transaction() as tx:
            # SKIP LOCKED: holds another sweeper (or a settling upload) has just taken are left
            # to it, so two sweepers never wait on each other's reservation rows.
            picked = await self._pick(
                tx,
                "SELECT id, project_id, bytes FROM quota_reservations WHERE expires_at <= ?",
                (now,),
            )
            for batch in batches([id_ for id_, _, _ in picked]):
                await tx.execute(
                    f"DELETE FROM quota_reservations WHERE id IN ({marks(len(batch))})", batch
                )
            totals: dict[str, int] = {}
            for _, project_id, nbytes in picked:
                totals[project_id] = totals.get(project_id, 0) + nbytes
            # Projects in id order: two sweepers lock them in the same order.
            for project_id in sorted(totals):
                await tx.execute(GIVE_BACK, (totals[project_id], project_id))
        return len(picked)
