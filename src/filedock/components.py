"""Wiring: build every store and service from Settings (no globals), open and close them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from filedock.blobs.base import BlobStore
from filedock.blobs.factory import blob_store_for_settings
from filedock.clock import Clock, SystemClock
from filedock.metadata.base import MetadataStore
from filedock.metadata.bootstrap import BootstrapKeyRows
from filedock.metadata.db import Database
from filedock.metadata.factory import store_for_url
from filedock.metadata.ledger import BlobLedger
from filedock.metadata.ratelimits import RateLimitRows
from filedock.services.files import FileService
from filedock.services.fsck import Fsck
from filedock.services.keys import ApiKeys
from filedock.services.leases import BlobLeases
from filedock.services.processing import Processor
from filedock.services.projects import ProjectService
from filedock.services.quotas import QuotaService
from filedock.services.ratelimit import Limiter, RateLimiter, SharedRateLimiter
from filedock.services.sweeper import Sweeper
from filedock.services.uploads import UploadService
from filedock.settings import Settings

log = logging.getLogger("filedock")


def metadata_store_for(settings: Settings) -> MetadataStore:
    return store_for_url(settings.resolved_database_url, pool_size=settings.database_pool_size)


@dataclass
class Components:
    """Everything one filedock process runs on."""

    settings: Settings
    blobs: BlobStore
    metadata: MetadataStore
    db: Database
    ledger: BlobLedger
    leases: BlobLeases
    files: FileService
    keys: ApiKeys
    sweeper: Sweeper
    processor: Processor
    uploads: UploadService

    projects: ProjectService
    quotas: QuotaService
    limiter: Limiter
    clock: Clock = field(default_factory=SystemClock)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> Components:
        clock = clock or SystemClock()
        blobs = blob_store_for_settings(settings)
        metadata = metadata_store_for(settings)
        db = metadata.db  # the ledger's rows share the store's pool
        ledger = BlobLedger(db)
        leases = BlobLeases(ledger, clock, settings.blob_lease_seconds)
        processor = Processor(settings, blobs, metadata)
        files = FileService(settings, blobs, metadata, processor, leases=leases)
        return cls(
            settings=settings,
            blobs=blobs,
            metadata=metadata,
            db=db,
            ledger=ledger,
            leases=leases,
            processor=processor,
            files=files,
            keys=ApiKeys(
                metadata,
                settings.api_key,
                insert_bootstrap=BootstrapKeyRows(db).insert_if_absent,
            ),
            sweeper=Sweeper(settings, blobs, metadata, ledger, clock),
            uploads=UploadService(settings, files, blobs, metadata),
            projects=ProjectService(settings, metadata),
            quotas=files.quotas,
            # One server on SQLite: buckets in memory; on PostgreSQL every server shares rows.
            limiter=(
                SharedRateLimiter(RateLimitRows(db), clock)
                if db.dialect == "postgresql"
                else RateLimiter()
            ),
            clock=clock,
        )

    def fsck(self) -> Fsck:
        """A full audit of the blob store against the database (`filedock fsck`)."""
        return Fsck(
            self.blobs, self.ledger, self.sweeper, self.clock, self.settings.orphan_grace_seconds
        )

    async def open(self) -> None:
        await self.metadata.open()  # applies migrations
        await self.blobs.open()
        self.leases.start()

    async def start_background(self) -> None:
        """Sweep once (a crash's leftovers whose leases lapsed) and start the periodic sweeper."""
        await self.sweeper.sweep()
        self._tasks.append(asyncio.create_task(self._sweep_forever()))
        # Files left in status uploaded by a stopped server are claimed by this loop too.
        await self.processor.start()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_seconds)
            try:
                await self.sweeper.sweep()
            except Exception:
                log.exception("sweep failed; retrying at the next interval")

    async def close(self) -> None:
        await self.processor.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.leases.close()
        await self.blobs.close()
        await self.metadata.close()
