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
from filedock.metadata.db import Database, database_for_url
from filedock.metadata.factory import store_for_url
from filedock.metadata.webhook_events import WebhookEventRows
from filedock.services.batch_runner import BatchRunner
from filedock.services.batches import BatchService
from filedock.services.engines import EngineRouter, load_engines
from filedock.services.files import FileService
from filedock.services.keys import ApiKeys
from filedock.services.processing import Processor
from filedock.services.projects import ProjectService
from filedock.services.quotas import QuotaService
from filedock.services.ratelimit import RateLimiter
from filedock.services.sweeper import Sweeper
from filedock.services.uploads import UploadService
from filedock.services.webhooks import WebhookSender
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
    files: FileService
    keys: ApiKeys
    sweeper: Sweeper
    processor: Processor
    uploads: UploadService

    projects: ProjectService
    quotas: QuotaService
    limiter: RateLimiter
    db: Database
    batches: BatchService
    batch_runner: BatchRunner
    webhooks: WebhookSender
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> Components:
        clock = clock or SystemClock()
        blobs = blob_store_for_settings(settings)
        metadata = metadata_store_for(settings)
        processor = Processor(settings, blobs, metadata)
        files = FileService(settings, blobs, metadata, processor)
        db = database_for_url(settings.resolved_database_url, pool_size=settings.database_pool_size)
        webhooks = WebhookSender(settings, WebhookEventRows(db), clock)
        runner = BatchRunner(
            settings,
            db,
            blobs,
            files,
            EngineRouter(load_engines(settings), clock),
            webhooks,
            clock,
        )
        return cls(
            settings=settings,
            blobs=blobs,
            metadata=metadata,
            processor=processor,
            files=files,
            keys=ApiKeys(metadata, settings.api_key),
            sweeper=Sweeper(settings, blobs, metadata),
            uploads=UploadService(settings, files, blobs, metadata),
            projects=ProjectService(settings, metadata),
            quotas=files.quotas,
            limiter=RateLimiter(),
            db=db,
            batches=BatchService(settings, runner.rows, files, clock, kick=runner.kick),
            batch_runner=runner,
            webhooks=webhooks,
        )

    async def open(self) -> None:
        await self.metadata.open()  # applies migrations first
        await self.db.open()
        await self.blobs.open()

    async def start_background(self) -> None:
        """Recover from a crash (temporaries, orphans) and start the periodic sweeper."""
        await self.sweeper.sweep()
        self._tasks.append(asyncio.create_task(self._sweep_forever()))
        # Files left in status uploaded by a stopped server are claimed by this loop too.
        await self.processor.start()
        # Batches left running by a stopped server continue here (by their rows and leases).
        await self.batch_runner.start()
        await self.webhooks.start()

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sweep_interval_seconds)
            try:
                await self.sweeper.sweep()
            except Exception:
                log.exception("sweep failed; retrying at the next interval")

    async def close(self) -> None:
        await self.batch_runner.close()
        await self.webhooks.close()
        await self.processor.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.blobs.close()
        await self.db.close()
        await self.metadata.close()
