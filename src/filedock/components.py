"""Wiring: build every store and service from Settings (no globals), open and close them."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from filedock.blobs.base import BlobStore
from filedock.blobs.factory import blob_store_for_settings
from filedock.clock import Clock, SystemClock
from filedock.metadata.base import MetadataStore
from filedock.metadata.bootstrap import BootstrapKeyRows
from filedock.metadata.factory import metadata_store_for_url
from filedock.metadata.ledger import BlobLedger
from filedock.metadata.ratelimits import RateLimitRows
from filedock.metadata.webhook_events import WebhookEventRows
from filedock.metrics import Metrics
from filedock.services.batch_runner import BatchRunner
from filedock.services.batches import BatchService
from filedock.services.engines import EngineRouter, load_engines
from filedock.services.files import FileService
from filedock.services.fsck import Fsck
from filedock.services.keys import ApiKeys
from filedock.services.leases import BlobLeases
from filedock.services.processing import Processor
from filedock.services.projects import ProjectService
from filedock.services.quotas import QuotaService
from filedock.services.ratelimit import Limiter, RateLimiter, SharedRateLimiter
from filedock.services.sweeper import Sweeper
from filedock.services.tasks import cancel_and_wait
from filedock.services.uploads import UploadService
from filedock.services.webhooks import WebhookSender
from filedock.settings import Settings

log = logging.getLogger("filedock")


def metadata_store_for(settings: Settings) -> MetadataStore:
    return metadata_store_for_url(
        settings.resolved_database_url, pool_size=settings.database_pool_size
    )


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
            keys=ApiKeys(
                metadata,
                clock,
                settings.api_key,
                insert_bootstrap=BootstrapKeyRows(metadata.db).insert_if_absent,
            ),
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
    ledger: BlobLedger
    leases: BlobLeases
    keys: ApiKeys
    projects: ProjectService
    quotas: QuotaService
    processor: Processor
    files: FileService
    uploads: UploadService
    sweeper: Sweeper
    limiter: Limiter
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
        # The blob ledger's rows share the store's pool; leases are this process's side of it.
        ledger = BlobLedger(metadata.db)
        leases = BlobLeases(ledger, clock, settings.blob_lease_seconds)
        files = FileService(
            settings,
            blobs,
            metadata,
            processor=processor,
            quotas=quotas,
            clock=clock,
            leases=leases,
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
            ledger=ledger,
            leases=leases,
            keys=admin.keys,
            projects=admin.projects,
            quotas=quotas,
            processor=processor,
            files=files,
            uploads=UploadService(
                settings, blobs, metadata, files=files, quotas=quotas, clock=clock
            ),
            sweeper=Sweeper(settings, blobs, metadata, ledger, clock),
            # One server on SQLite: buckets in memory; on PostgreSQL every server shares rows.
            limiter=(
                SharedRateLimiter(RateLimitRows(metadata.db), clock)
                if metadata.db.dialect == "postgresql"
                else RateLimiter()
            ),
            batches=BatchService(
                settings, runner.rows, files, clock, kick=runner.kick, stop=runner.stop
            ),
            batch_runner=runner,
            webhooks=webhooks,
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
        await cancel_and_wait(self._tasks)
        self._tasks.clear()
        await self.leases.close()
        await self.blobs.close()
        await self.metadata.close()
