"""Wiring: build every store and service from Settings (no globals), open and close them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

from filedock.blobs.base import BlobStore
from filedock.blobs.factory import blob_store_for_settings
from filedock.metadata.base import MetadataStore
from filedock.metadata.factory import store_for_url
from filedock.services.files import FileService
from filedock.services.keys import ApiKeys
from filedock.services.processing import Processor
from filedock.services.projects import ProjectService
from filedock.services.quotas import QuotaService
from filedock.services.ratelimit import RateLimiter
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
    files: FileService
    keys: ApiKeys
    sweeper: Sweeper
    processor: Processor
    uploads: UploadService

    projects: ProjectService
    quotas: QuotaService
    limiter: RateLimiter
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings) -> Components:
        blobs = blob_store_for_settings(settings)
        metadata = metadata_store_for(settings)
        processor = Processor(settings, blobs, metadata)
        files = FileService(settings, blobs, metadata, processor)
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
        await self.blobs.close()
        await self.metadata.close()
