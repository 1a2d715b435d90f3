"""Background housekeeping: expired files, tombstones, abandoned temporaries, orphan bytes, and
the Uploads API's expired uploads and leftover parts."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from filedock.blobs.base import BlobStore
from filedock.clock import Clock
from filedock.metadata.base import MetadataStore
from filedock.services import audit
from filedock.settings import Settings

log = logging.getLogger("filedock.sweeper")
BATCH = 500


@dataclass
class SweepReport:
    expired: int = 0
    tombstones: int = 0
    temporaries: int = 0
    orphans: int = 0
    uploads_settled: int = 0
    uploads_expired: int = 0
    upload_parts: int = 0
    uploads_purged: int = 0
    reservations: int = 0


class Sweeper:
    """Each pass is safe to run on several servers at once: claims are atomic in the database."""

    def __init__(
        self, settings: Settings, blobs: BlobStore, metadata: MetadataStore, clock: Clock
    ) -> None:
        self.settings = settings
        self.blobs = blobs
        self.metadata = metadata
        self.clock = clock

    async def sweep(self, *, orphan_grace: float | None = None) -> SweepReport:
        token = audit.set_actor(audit.Actor("sweeper"))
        try:
            return await self._sweep(orphan_grace)
        finally:
            audit.reset_actor(token)

    async def _sweep(self, orphan_grace: float | None) -> SweepReport:
        report = SweepReport()
        now = self.clock.now()
        while True:
            claimed = await self.metadata.claim_expired_files(now, BATCH)
            for record in claimed:
                await self.blobs.delete(record.blob_key)
                audit.record(
                    "file.expired",
                    self.clock.time(),
                    project_id=record.project_id,
                    file_id=record.id,
                    bytes=record.bytes,
                )
            report.expired += len(claimed)
            if len(claimed) < BATCH:
                break
        await self.sweep_uploads(report, now)
        report.tombstones = await self.metadata.purge_tombstones(
            now - int(self.settings.tombstone_retention_seconds)
        )
        # Quota held by uploads whose lease ran out (a crashed server's, a stalled client's).
        report.reservations = await self.metadata.release_expired_reservations(now)
        report.temporaries = await self.blobs.remove_abandoned_temporaries()
        report.orphans = await self.remove_orphans(
            self.settings.orphan_grace_seconds if orphan_grace is None else orphan_grace
        )
        if any(vars(report).values()):
            log.info("sweep: %s", report)
        return report

    async def sweep_uploads(self, report: SweepReport, now: int) -> None:
        """Settle completions a crash interrupted, expire pending Uploads, remove the parts of
        every Upload that is no longer pending (bytes first, then rows), and purge old rows."""
        report.uploads_settled = await self.metadata.settle_published_uploads()
        while True:
            expired = await self.metadata.claim_expired_uploads(now, BATCH)
            report.uploads_expired += expired
            if expired < BATCH:
                break
        while True:
            parts = await self.metadata.dead_upload_parts(BATCH)
            for part in parts:
                await self.blobs.delete(part.blob_key)
            await self.metadata.delete_upload_parts([part.id for part in parts])
            report.upload_parts += len(parts)
            if len(parts) < BATCH:
                break
        # Finished Uploads stay answerable (a retried complete) as long as deleted files do.
        report.uploads_purged = await self.metadata.purge_finished_uploads(
            now - int(self.settings.tombstone_retention_seconds)
        )

    async def remove_orphans(self, grace: float) -> int:
        """Delete committed blobs older than `grace` seconds that no live row refers to."""
        cutoff = self.clock.time() - grace
        candidates: list[str] = []
        removed = 0
        async for key, mtime in self.blobs.list_keys():
            if mtime <= cutoff:
                candidates.append(key)
            if len(candidates) >= BATCH:
                removed += await self._remove_unreferenced(candidates)
                candidates = []
        if candidates:
            removed += await self._remove_unreferenced(candidates)
        return removed

    async def _remove_unreferenced(self, keys: list[str]) -> int:
        live = await self.metadata.live_blob_keys(keys)
        # Parts of pending Uploads have no file row yet but are very much alive.
        live |= await self.metadata.pending_upload_part_keys(keys)
        orphans = [k for k in keys if k not in live]
        for key in orphans:
            await self.blobs.delete(key)
        return len(orphans)
