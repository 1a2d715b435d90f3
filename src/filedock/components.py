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
from filedock.metadata.factory import store_for_url
from filedock.metadata.webhook_events import WebhookEventRows
from filedock.metrics import Metrics
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
class AdminComponents:
    """What the admin commands need: the metadata store, API keys and projects.

    No blob store: keys and projects can be managed while the object store is down.
    """

    settings: Settings
    clock: Clock
    metadata: MetadataStore
    keys: ApiKeys
    projects: ProjectService

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None) -> AdminComponents:
        clock = clock or SystemClock()
        metadata = metadata_store_for(settings)
        return cls(
            settings=settings,
            clock=clock,
            metadata=metadata,
            keys=ApiKeys(metadata, clock, settings.api_key),
            projects=ProjectService(settings, metadata, clock),
        )

    async def open(self) -> None:
        await self.metadata.open()

    async def close(self) -> None:
        await self.metadata.close()


@dataclass
class Components:
    """Everything one filedock process runs on, each built once here and injected."""

    settings: Settings
    clock: Clock
    metrics: Metrics
    blobs: BlobStore
    metadata: MetadataStore
    keys: ApiKeys
    projects: ProjectService
    quotas: QuotaService
    processor: Processor
    files: FileService
    uploads: UploadService
    sweeper: Sweeper
    limiter: RateLimiter
    batches: BatchService
    batch_runner: BatchRunner
    webhooks: WebhookSender
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, *, clock: Clock | None = None) -> Components:
        admin = AdminComponents.build(settings, clock=clock)
        clock, metadata = admin.clock, admin.metadata
        metrics = Metrics(clock)
        blobs = blob_store_for_settings(settings)
        quotas = QuotaService(settings, metadata, clock)
        processor = Processor(settings, blobs, metadata, clock=clock, metrics=metrics.processing)
        files = FileService(
            settings, blobs, metadata, processor=processor, quotas=quotas, clock=clock
        )
        # The Batch API's rows live on the metadata store's Database (one pool).
        webhooks = WebhookSender(settings, WebhookEventRows(metadata.db), clock)
        runner = BatchRunner(
            settings,
            metadata.db,
            blobs,
            files,
            EngineRouter(load_engines(settings), clock),
            webhooks,
            clock,
        )
        runner.add_observer(metrics.batches)
        return cls(
            settings=settings,
            clock=clock,
            metrics=metrics,
            blobs=blobs,
            metadata=metadata,
            keys=admin.keys,
            projects=admin.projects,
            quotas=quotas,
            processor=processor,
            files=files,
            uploads=UploadService(
                settings, blobs, metadata, files=files, quotas=quotas, clock=clock
            ),
            sweeper=Sweeper(settings, blobs, metadata, clock),
            limiter=RateLimiter(),
            batches=BatchService(settings, runner.rows, files, clock, kick=runner.kick),
            batch_runner=runner,
            webhooks=webhooks,
        )

    async def open(self) -> None:
        await self.metadata.open()
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
        await self.metadata.close()
