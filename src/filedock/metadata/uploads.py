"""Upload rows (the Uploads API) and their parts, whose bytes live in the blob store."""

from __future__ import annotations

from filedock.metadata.rows import Rows, batches, marks
from filedock.metadata.tables import UPLOAD_PARTS, UPLOADS
from filedock.models import UploadPartRecord, UploadRecord

# The Upload's recorded File exists: a completion got as far as publishing it.
FILE_PUBLISHED = (
    "EXISTS (SELECT 1 FROM files WHERE files.id = uploads.file_id AND files.deleted_at IS NULL)"
)
EXPIRED_SQL = (
    "SELECT id FROM uploads WHERE status = 'pending' AND expires_at <= ? "
    f"AND NOT {FILE_PUBLISHED} LIMIT ?"
)
PARTS_JOIN = "FROM upload_parts p JOIN uploads u ON u.id = p.upload_id"


class UploadRows(Rows):
    """Rows of Uploads and of their parts."""

    async def insert_upload(self, record: UploadRecord) -> None:
        """Store a new pending Upload."""
        await self.db.execute(UPLOADS.insert_sql, UPLOADS.values(record))

    async def get_upload(self, project_id: str, upload_id: str) -> UploadRecord | None:
        """The Upload of the project in whatever state, or None."""
        row = await self.db.fetch_one(
            f"{UPLOADS.select_sql} WHERE id = ? AND project_id = ?", (upload_id, project_id)
        )
        return UPLOADS.row(row) if row else None

    async def insert_upload_part(self, part: UploadPartRecord, now: int) -> bool:
        """Add a part in one transaction, only if its Upload is pending, not expired at `now`
        and `received_bytes + part.bytes <= bytes`; the part's size is added to
        `received_bytes`. False (and nothing stored) otherwise.
        """
        async with self.db.transaction() as tx:
            # The conditional UPDATE locks the Upload row; a concurrent part waits and
            # re-checks the size against the committed received_bytes.
            added = await tx.execute(
                "UPDATE uploads SET received_bytes = received_bytes + ? "
                "WHERE id = ? AND status = 'pending' AND expires_at > ? "
                "AND received_bytes + ? <= bytes",
                (part.bytes, part.upload_id, now, part.bytes),
            )
            if added != 1:
                return False
            await tx.execute(UPLOAD_PARTS.insert_sql, UPLOAD_PARTS.values(part))
        return True

    async def list_upload_parts(self, upload_id: str) -> list[UploadPartRecord]:
        """Every part row of an Upload, oldest first."""
        rows = await self.db.fetch_all(
            f"{UPLOAD_PARTS.select_sql} WHERE upload_id = ? ORDER BY created_at, id", (upload_id,)
        )
        return [UPLOAD_PARTS.row(r) for r in rows]

    async def start_upload_completion(self, upload_id: str, file_id: str) -> bool:
        """Record the id the File will get (a pending Upload only); False if not pending."""
        changed = await self.db.execute(
            "UPDATE uploads SET file_id = ? WHERE id = ? AND status = 'pending'",
            (file_id, upload_id),
        )
        return changed == 1

    async def finish_upload_completion(self, upload_id: str, file_id: str) -> UploadRecord | None:
        """Mark completed when `file_id` is still the recorded completion and the Upload is
        pending (or already completed with it); None otherwise.
        """
        row = await self.db.fetch_one(
            "UPDATE uploads SET status = 'completed' WHERE id = ? AND file_id = ? "
            f"AND status IN ('pending', 'completed') RETURNING {UPLOADS.columns}",
            (upload_id, file_id),
        )
        return UPLOADS.row(row) if row else None

    async def cancel_upload(self, project_id: str, upload_id: str, now: int) -> UploadRecord | None:
        """Pending, unexpired and without a published File → cancelled; None otherwise."""
        row = await self.db.fetch_one(
            "UPDATE uploads SET status = 'cancelled' WHERE id = ? AND project_id = ? "
            f"AND status = 'pending' AND expires_at > ? AND NOT {FILE_PUBLISHED} "
            f"RETURNING {UPLOADS.columns}",
            (upload_id, project_id, now),
        )
        return UPLOADS.row(row) if row else None

    async def settle_published_uploads(self) -> int:
        """Mark completed every pending Upload whose recorded File exists (live): a crash hit
        between publishing the File and marking the Upload. Returns how many.
        """
        return await self.db.execute(
            "UPDATE uploads SET status = 'completed' WHERE status = 'pending' "
            f"AND file_id IS NOT NULL AND {FILE_PUBLISHED}"
        )

    async def claim_expired_uploads(self, now: int, limit: int) -> int:
        """Pending Uploads expired at `now` (and without a published File) → expired."""
        async with self.db.transaction() as tx:
            # The same claim shape as the file sweeps: concurrent sweepers split the rows.
            picked = await self._pick(tx, EXPIRED_SQL, (now, limit))
            if not picked:
                return 0
            return await tx.execute(
                f"UPDATE uploads SET status = 'expired' WHERE id IN ({marks(len(picked))}) "
                "AND status = 'pending'",
                [r[0] for r in picked],
            )

    async def dead_upload_parts(self, limit: int) -> list[UploadPartRecord]:
        """Up to `limit` part rows whose Upload is no longer pending (their bytes can go)."""
        rows = await self.db.fetch_all(
            f"SELECT {UPLOAD_PARTS.qualified('p')} {PARTS_JOIN} "
            "WHERE u.status <> 'pending' LIMIT ?",
            (limit,),
        )
        return [UPLOAD_PARTS.row(r) for r in rows]

    async def delete_upload_parts(self, part_ids: list[str]) -> None:
        """Remove part rows (after their blobs were deleted)."""
        for batch in batches(part_ids):
            await self.db.execute(
                f"DELETE FROM upload_parts WHERE id IN ({marks(len(batch))})", batch
            )

    async def purge_finished_uploads(self, expired_before: int) -> int:
        """Remove rows of Uploads that are no longer pending, have no part rows left, and
        expired before the given time. Returns how many."""
        return await self.db.execute(
            "DELETE FROM uploads WHERE status <> 'pending' AND expires_at < ? "
            "AND NOT EXISTS (SELECT 1 FROM upload_parts p WHERE p.upload_id = uploads.id)",
            (expired_before,),
        )
