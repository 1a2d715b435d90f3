"""Background housekeeping: expired files, tombstones, the Uploads API's expired uploads and
leftover parts, and the blobs of the blob ledger whose lease lapsed.

Which bytes are dead is read from the ledger, never guessed from a file's age or lock: a blob is
deleted only once its intent's lease lapsed and this sweeper claimed it (a row publishing it
fails from then on), and no row refers to it. The sweep reads the ledger by lease expiry (an
index), so its cost follows the number of dead blobs, not the size of the store.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

from filedock.blobs.base import BlobStore
from filedock.clock import Clock
from filedock.metadata.base import MetadataStore
from filedock.metadata.ledger import BlobLedger
from filedock.services import audit
from filedock.settings import Settings

log = logging.getLogger("filedock.sweeper")
BATCH = 500
# How long a swept intent is remembered: a process that stalled for a whole lease and then tries
# to publish the swept key meets the mark (and fails) instead of publishing missing bytes.
SWEPT_RETENTION_SECONDS = 7 * 86400


@dataclass
class SweepReport:
    expired: int = 0
    tombstones: int = 0
    lapsed: int = 0  # blobs of lapsed intents deleted
    claimed_published: int = 0  # lapsed intents whose key a row refers to (nothing deleted)
    uploads_settled: int = 0
    uploads_expired: int = 0
    upload_parts: int = 0
    uploads_purged: int = 0
    reservations: int = 0


@dataclass(eq=False)
class Sweeper:
    """Each pass is safe to run on several servers at once: claims are atomic in the database."""

    settings: Settings
    blobs: BlobStore
    metadata: MetadataStore
    ledger: BlobLedger
    clock: Clock
    claimer: str = field(init=False, default_factory=lambda: "sweep_" + secrets.token_hex(8))

    async def sweep(self) -> SweepReport:
        token = audit.set_actor(audit.Actor("sweeper"))
        try:
            return await self._sweep()
        finally:
            audit.reset_actor(token)

    async def _sweep(self) -> SweepReport:
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
        await self.sweep_ledger(report)
        if any(vars(report).values()):
            log.info("sweep: %s", report)
        return report

    async def sweep_ledger(self, report: SweepReport) -> None:
        """Delete the bytes of every blob whose intent's lease lapsed and no row refers to."""
        now = self.clock.now()
        while True:
            # The claim lasts a lease: a sweeper that dies mid-way is taken over afterwards.
            claim_until = now + int(self.settings.blob_lease_seconds)
            claimed = await self.ledger.claim_lapsed(now, self.claimer, claim_until, BATCH)
            if not claimed:
                break
            keys = [intent.key for intent in claimed]
            referenced = await self.ledger.referenced(keys)
            dead = [key for key in keys if key not in referenced]
            for key in dead:
                await self.blobs.discard(key)
            await self.ledger.mark_swept(dead, self.claimer, now + SWEPT_RETENTION_SECONDS)
            await self.ledger.drop(sorted(referenced))
            report.lapsed += len(dead)
            report.claimed_published += len(referenced)
            if len(claimed) < BATCH:
                break
        await self.ledger.purge_swept(now)

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
