"""Processing leases on file rows and the validation reports they produce."""

from __future__ import annotations

from filedock.metadata.db import Tx
from filedock.metadata.rows import RowLease, Rows, marks
from filedock.metadata.tables import FILE_REPORTS, FILES, FileReportRow
from filedock.models import FileRecord

CLAIMABLE = (
    "status = 'uploaded' AND deleted_at IS NULL AND (lease_until IS NULL OR lease_until <= ?)"
)
UPSERT_REPORT = (
    FILE_REPORTS.insert_sql + " ON CONFLICT (file_id) DO UPDATE SET "
    "report = excluded.report, created_at = excluded.created_at"
)


async def _upsert_report(tx: Tx, file_id: str, report: str, now: int) -> None:
    await tx.execute(UPSERT_REPORT, FILE_REPORTS.values(FileReportRow(file_id, report, now)))


class ProcessingRows(Rows):
    """Leases that hand each `uploaded` file to one processor at a time, and reports."""

    async def claim_files_for_processing(
        self, owner: str, now: int, lease_until: int, limit: int
    ) -> list[FileRecord]:
        """Atomically lease up to `limit` live files in status `uploaded` whose lease is absent or
        expired at `now`, to `owner` until `lease_until`, and return them in insertion order.
        With several servers on one database each file is handed to one claimant per lease.
        """
        async with self.db.transaction() as tx:
            # Rows another server is leasing right now are left to it.
            picked = await self._pick(
                tx, f"SELECT seq FROM files WHERE {CLAIMABLE} ORDER BY seq LIMIT ?", (now, limit)
            )
            if not picked:
                return []
            rows = await tx.fetch_all(
                "UPDATE files SET lease_owner = ?, lease_until = ? "
                f"WHERE seq IN ({marks(len(picked))}) AND {CLAIMABLE} "
                f"RETURNING {FILES.columns}",
                (owner, lease_until, *(r[0] for r in picked), now),
            )
        return sorted((FILES.row(r) for r in rows), key=lambda r: r.seq)

    async def renew_processing_lease(self, file_id: str, owner: str, lease_until: int) -> bool:
        """Extend `owner`'s lease on a file; False if the lease is no longer `owner`'s."""
        changed = await self.db.execute(
            "UPDATE files SET lease_until = ? WHERE id = ? AND lease_owner = ? "
            "AND status = 'uploaded'",
            (lease_until, file_id, owner),
        )
        return changed > 0

    async def release_processing_lease(self, file_id: str, owner: str) -> None:
        """Give a file back unprocessed (e.g. at shutdown) so another claimant may take it now."""
        await RowLease(self.db, "files").release(file_id, owner)

    async def finish_processing(
        self,
        file_id: str,
        owner: str,
        status: str,
        status_details: str | None,
        report: str,
        now: int,
    ) -> bool:
        """In one transaction: if `owner` still holds the lease on the live, `uploaded` file, set
        its final status, drop the lease and store its report (JSON text). False otherwise."""
        async with self.db.transaction() as tx:
            row = await tx.fetch_one(
                "UPDATE files SET status = ?, status_details = ?, lease_owner = NULL, "
                "lease_until = NULL WHERE id = ? AND lease_owner = ? "
                "AND status = 'uploaded' AND deleted_at IS NULL RETURNING id",
                (status, status_details, file_id, owner),
            )
            if row is None:
                return False
            await _upsert_report(tx, file_id, report, now)
        return True

    async def save_file_report(self, file_id: str, report: str, now: int) -> None:
        """Store (or replace) a file's validation report (JSON text)."""
        await _upsert_report(self.db, file_id, report, now)

    async def get_file_report(self, file_id: str) -> str | None:
        """A file's stored report (JSON text), or None."""
        row = await self.db.fetch_one(
            "SELECT report FROM file_reports WHERE file_id = ?", (file_id,)
        )
        return str(row[0]) if row else None
