"""Background housekeeping: expired files, tombstones, abandoned temporaries and orphan bytes."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from filedock import audit
from filedock.blobs.base import BlobStore
from filedock.metadata.base import MetadataStore
from filedock.settings import Settings

log = logging.getLogger("filedock.sweeper")
BATCH = 500


@dataclass
class SweepReport:
    expired: int = 0
    tombstones: int = 0
    temporaries: int = 0
    orphans: int = 0
    reservations: int = 0


class Sweeper:
    """Each pass is safe to run on several servers at once: claims are atomic in the database."""

    def __init__(self, settings: Settings, blobs: BlobStore, metadata: MetadataStore) -> None:
        self.settings = settings
        self.blobs = blobs
        self.metadata = metadata

    async def sweep(self, *, orphan_grace: float | None = None) -> SweepReport:
        token = audit.set_actor(audit.Actor("sweeper"))
        try:
            return await self._sweep(orphan_grace)
        finally:
            audit.reset_actor(token)

    async def _sweep(self, orphan_grace: float | None) -> SweepReport:
        report = SweepReport()
        now = int(time.time())
        while True:
            claimed = await self.metadata.claim_expired_files(now, BATCH)
            for record in claimed:
                await self.blobs.delete(record.blob_key)
                audit.record(
                    "file.expired",
                    project_id=record.project_id,
                    file_id=record.id,
                    bytes=record.bytes,
                )
            report.expired += len(claimed)
            if len(claimed) < BATCH:
                break
        report.tombstones = await self.metadata.purge_tombstones(
            now - int(self.settings.tombstone_retention_seconds)
        )
        # Quota held by uploads whose lease ran out (a crashed server's, a stalled client's).
        report.reservations = await self.metadata.release_expired_reservations(now)
        report.temporaries = await self.blobs.remove_abandoned_temporaries()
        report.orphans = await self.remove_orphans(
            self.settings.orphan_grace_seconds if orphan_grace is None else orphan_grace
        )
        if any(
            (
                report.expired,
                report.tombstones,
                report.temporaries,
                report.orphans,
                report.reservations,
            )
        ):
            log.info("sweep: %s", report)
        return report

    async def remove_orphans(self, grace: float) -> int:
        """Delete committed blobs older than `grace` seconds that no live row refers to."""
        cutoff = time.time() - grace
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
        orphans = [k for k in keys if k not in live]
        for key in orphans:
            await self.blobs.delete(key)
        return len(orphans)
