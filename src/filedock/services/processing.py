"""File processing: runs the content checks of uploaded files in the background, durably.

A file needing checks is stored in status `uploaded`. A Processor claims such files with a
lease in the metadata store (so several servers on one database process each file once, and a
file left `uploaded` by a stopped or crashed server is taken over), streams its bytes from the
blob store into the pure validator in worker threads, and records the final status and report.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from dataclasses import KW_ONLY, dataclass

import anyio.to_thread

from filedock.blobs.base import BlobStore
from filedock.clock import Clock
from filedock.errors import BlobNotFound, MetadataError, StorageError
from filedock.metadata.base import MetadataStore
from filedock.metrics import ProcessingMetrics
from filedock.models import FileRecord
from filedock.services.tasks import PollLoop, cancel_and_wait
from filedock.settings import Settings
from filedock.validation import CHECKED_PURPOSES, Report, ValidationOptions, validator_for

log = logging.getLogger("filedock.processing")

# Chunks are gathered to about this size before a hand-off to a worker thread (about 1 MiB
# measured faster than 4 MiB: the chunk stays in the CPU cache while it is split and parsed).
FEED_BYTES = 1024 * 1024


def validation_options(settings: Settings) -> ValidationOptions:
    return ValidationOptions(
        max_issues=settings.report_max_errors,
        min_examples=settings.fine_tune_min_examples,
        context_tokens=settings.fine_tune_context_tokens,
        batch_max_tasks=settings.batch_max_requests,
        batch_max_embedding_inputs=settings.batch_max_embedding_inputs,
        image_max_bytes=settings.image_max_bytes,
        images_per_example=settings.fine_tune_images_per_example,
        image_examples=settings.fine_tune_image_examples,
        assistants_max_tokens=settings.assistants_max_tokens,
    )


def report_json(report: Report) -> str:
    return json.dumps(report.to_json(), separators=(",", ":"))


@dataclass(eq=False)
class Processor:
    """The processing policy and the background worker of one server process.

    It reports to `metrics`: the queue depth is the files this process stored in status
    `uploaded` or claimed, until their check ends here (or, once nothing is left to claim, until
    another server's lease holds them); each check's outcome and duration.
    """

    settings: Settings
    blobs: BlobStore
    metadata: MetadataStore
    _: KW_ONLY
    clock: Clock
    metrics: ProcessingMetrics

    def __post_init__(self) -> None:
        self._queued: set[str] = set()
        self.owner = "proc_" + secrets.token_hex(8)
        self.options = validation_options(self.settings)
        self._slots = asyncio.Semaphore(max(1, self.settings.processing_concurrency))
        self._active: dict[str, asyncio.Task[None]] = {}
        self._loop = PollLoop(
            self._claim, self.settings.processing_poll_seconds, log, "claiming files to process"
        )

    # policy --------------------------------------------------------------------------------
    def needs_check(self, purpose: str) -> bool:
        """Whether files of `purpose` go through `uploaded` before `processed` or `error`."""
        return purpose in CHECKED_PURPOSES

    # checking ------------------------------------------------------------------------------
    async def check_blob(self, purpose: str, filename: str, blob_key: str) -> Report:
        """Check a stored file before its row exists (strict mode), counted as an outcome."""
        started = time.perf_counter()
        report = await self.validate_blob(purpose, filename, blob_key)
        self.metrics.finished(_outcome(report), time.perf_counter() - started)
        return report

    async def validate_blob(self, purpose: str, filename: str, blob_key: str) -> Report:
        """Stream a stored file through its validator; CPU work runs in worker threads and at
        most `processing_concurrency` files are checked at once."""
        async with self._slots:
            validator = validator_for(purpose, filename, self.options)
            pending: list[bytes] = []
            size = 0
            stream = self.blobs.read(blob_key)
            try:
                async for chunk in stream:
                    pending.append(chunk)
                    size += len(chunk)
                    if size >= FEED_BYTES:
                        await anyio.to_thread.run_sync(validator.feed, b"".join(pending))
                        pending, size = [], 0
                        if validator.done:
                            break
            finally:
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()
            if pending and not validator.done:
                await anyio.to_thread.run_sync(validator.feed, b"".join(pending))
            return await anyio.to_thread.run_sync(validator.finish)

    # background ----------------------------------------------------------------------------
    def kick(self, file_id: str | None = None) -> None:
        """A file was stored in status `uploaded`: look for work now, not at the next poll."""
        if file_id is not None:
            self._queued.add(file_id)
            self._report_depth()
        self._loop.kick()

    def _report_depth(self) -> None:
        self.metrics.set_queue_depth(len(self._queued))

    async def start(self) -> None:
        self._loop.start()

    async def _claim(self) -> None:
        free = max(1, self.settings.processing_concurrency) - len(self._active)
        if free <= 0:
            return
        now = self.clock.now()
        lease = int(self.settings.processing_lease_seconds)
        claimed = await self.metadata.claim_files_for_processing(self.owner, now, now + lease, free)
        for record in claimed:
            self._queued.add(record.id)
            self._active[record.id] = asyncio.create_task(self._process(record))
        if len(claimed) < free:
            # Nothing is left to claim: what this process queued is being checked here or under
            # another server's lease (that server counts it).
            self._queued &= set(self._active)
        self._report_depth()

    async def _process(self, record: FileRecord) -> None:
        renewer = asyncio.create_task(self._renew(record.id))
        started = time.perf_counter()
        try:
            if self.settings.processing_delay_seconds > 0:
                await asyncio.sleep(self.settings.processing_delay_seconds)
            try:
                report = await self.validate_blob(record.purpose, record.filename, record.blob_key)
            except BlobNotFound:
                # Deleted meanwhile (then finishing below does nothing) or lost: not retryable.
                report = Report(record.purpose)
                report.error("missing_bytes", "the file's stored bytes are missing")
            except (StorageError, MetadataError) as exc:
                # Perhaps passing (disk, network): give the file back to be retried later.
                log.warning("processing %s failed, will retry: %s", record.id, exc)
                await self.metadata.release_processing_lease(record.id, self.owner)
                return
            except Exception:
                log.exception("validator failed on %s", record.id)
                report = Report(record.purpose)
                report.error("processing_failed", "the server could not check this file")
            status = _outcome(report)
            finished = await self.metadata.finish_processing(
                record.id,
                self.owner,
                status,
                report.status_details(),
                report_json(report),
                self.clock.now(),
            )
            if finished:
                self.metrics.finished(status, time.perf_counter() - started)
            else:
                log.info("%s was deleted or taken over while being processed", record.id)
        except Exception:
            log.exception("processing %s failed", record.id)
        finally:
            await cancel_and_wait([renewer])
            self._active.pop(record.id, None)
            self._queued.discard(record.id)
            self._report_depth()
            self._loop.kick()  # a slot is free

    async def _renew(self, file_id: str) -> None:
        lease = self.settings.processing_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            with contextlib.suppress(MetadataError):
                await self.metadata.renew_processing_lease(
                    file_id, self.owner, int(self.clock.time() + lease)
                )

    async def close(self) -> None:
        """Stop; files still being checked are given back so a restart takes them at once."""
        held = list(self._active)
        await cancel_and_wait([*self._active.values(), *self._loop.stop()])
        for file_id in held:
            with contextlib.suppress(MetadataError):
                await self.metadata.release_processing_lease(file_id, self.owner)
        self._active.clear()


def _outcome(report: Report) -> str:
    return "processed" if report.valid else "error"
