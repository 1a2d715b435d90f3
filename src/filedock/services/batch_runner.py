"""The batch runner: moves batches through their life cycle on every server, by record.

    validating -> in_progress -> finalizing -> completed      (or failed: invalid input)
    validating | in_progress -> cancelling -> cancelled       (POST /cancel)
    in_progress -> expired                                    (created_at + batch_window_seconds)

Each poll (or kick) a runner reads the batches not yet ended and does its share: it validates
and finalizes under a batch-level lease (one server at a time), hands running batches to the
lane of their engine (services/batch_lanes.py: requests leased by line, results recorded once),
returns requests whose server died (lease ran out) to pending, and after a cancel or expiry lets
requests in flight finish for `batch_cancel_grace_seconds`, aborts the rest, fences the
unfinished requests and writes the partial files. Nothing is kept only in memory: a restarted
(or another) server continues from the rows.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable

from filedock.blobs.base import BlobStore
from filedock.clock import Clock
from filedock.errors import FileNotFound
from filedock.ids import new_file_id
from filedock.metadata.batches import BatchRows
from filedock.metadata.db import Database
from filedock.metadata.engine_slots import EngineSlotRows
from filedock.models import BatchRecord
from filedock.services.batch_input import check_input, errors_json
from filedock.services.batch_lanes import EngineLane, RunningBatch
from filedock.services.batch_observer import BatchObserver, Observers
from filedock.services.batch_output import BatchFileWriter
from filedock.services.batch_recorder import ResultRecorder
from filedock.services.engines import EngineRouter
from filedock.services.files import FileService
from filedock.services.processing import validation_options
from filedock.services.tasks import PollLoop, cancel_and_wait
from filedock.services.webhooks import WebhookSender, new_event
from filedock.settings import Settings

log = logging.getLogger("filedock.batch_runner")

STAMPS = {
    "completed": "completed_at",
    "failed": "failed_at",
    "expired": "expired_at",
    "cancelled": "cancelled_at",
}


class BatchRunner:
    """Runs batches on this server, alongside every other server on the same database."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        blobs: BlobStore,
        files: FileService,
        router: EngineRouter,
        webhooks: WebhookSender,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.blobs = blobs
        self.files = files
        self.router = router
        self.webhooks = webhooks
        self.clock = clock
        self.rows = BatchRows(db)
        self.slots = EngineSlotRows(db)
        self.owner = "run_" + secrets.token_hex(8)
        self.observers = Observers()
        self.recorder = ResultRecorder(self.rows)
        self.writer = BatchFileWriter(files, blobs, self.rows)
        self.lanes: dict[str, EngineLane] = {
            engine.name: EngineLane(
                engine,
                settings=settings,
                rows=self.rows,
                slots=self.slots,
                blobs=blobs,
                recorder=self.recorder,
                observers=self.observers,
                clock=clock,
                owner=self.owner,
                drained=self.kick,
            )
            for engine in router.engines
        }
        self._jobs: dict[str, asyncio.Task[None]] = {}
        self._unrouted: set[str] = set()  # batches whose engine is gone (warned once)
        self._polls = PollLoop(self.tick, settings.batch_poll_seconds, log, "batch runner poll")
        # Leases are renewed at a third of their length: two renewals may fail before one lapses.
        self._renewals = PollLoop(
            self.renew, settings.batch_lease_seconds / 3, log, "renewing batch leases"
        )

    def add_observer(self, observer: BatchObserver) -> None:
        """Receive the runner's per-engine events (see services/batch_observer.py)."""
        self.observers.add(observer)

    def kick(self) -> None:
        """Something changed (a batch was created or cancelled, time moved): look now."""
        self._polls.kick()

    def stop(self, batch_id: str) -> None:
        """A batch was cancelled here: its queued requests go back and no more are sent from
        now on (other servers stop at their next poll); then look now."""
        for lane in self.lanes.values():
            if batch_id in lane.batches:
                lane.set_batches({k: v for k, v in lane.batches.items() if k != batch_id})
        self.kick()

    # life ----------------------------------------------------------------------------------
    async def start(self) -> None:
        for batch_id in await self.rows.ended_with_lines():
            while await self.rows.delete_lines(batch_id):
                pass
        self.recorder.start()
        for lane in self.lanes.values():
            lane.start()
        self._polls.start()
        self._renewals.start()

    async def tick(self) -> None:
        """One pass over the batches not yet ended."""
        now = self.clock.now()
        running: dict[str, dict[str, RunningBatch]] = {name: {} for name in self.lanes}
        for batch in await self.rows.active():
            if batch.status == "validating":
                assert batch.expires_at is not None
                if now >= batch.expires_at:
                    await self._ending(batch, "expired", batch.expires_at, now)
                else:
                    self._job(batch, self._validate)
            elif batch.status == "in_progress":
                await self._running(batch, now, running)
            elif batch.status == "finalizing":
                self._job(batch, self._completed)
            elif batch.status == "cancelling":
                assert batch.cancelling_at is not None
                await self._ending(batch, "cancelled", batch.cancelling_at, now)
        for name, lane in self.lanes.items():
            lane.set_batches(running[name])

    async def _running(
        self, batch: BatchRecord, now: int, running: dict[str, dict[str, RunningBatch]]
    ) -> None:
        if await self.rows.finish_running(batch.id, now):
            self._job(batch, self._completed)  # every request answered (even at the deadline)
            return
        assert batch.expires_at is not None
        if now >= batch.expires_at:
            await self._ending(batch, "expired", batch.expires_at, now)
            return
        await self.rows.recover_lines(batch.id, now)  # requests of a server that died
        if batch.engine in self.lanes and batch.input_blob_key is not None:
            running[batch.engine][batch.id] = RunningBatch(
                batch.id, batch.endpoint, batch.input_blob_key
            )
        elif batch.id not in self._unrouted:
            self._unrouted.add(batch.id)
            log.warning("batch %s: engine %r is not configured", batch.id, batch.engine)

    async def _ending(self, batch: BatchRecord, status: str, since: int, now: int) -> None:
        """A cancelled or expired batch: finish (or after the grace abort) what is in flight,
        then write its files."""
        grace_over = now >= since + self.settings.batch_cancel_grace_seconds
        if grace_over:
            for lane in self.lanes.values():
                lane.abort(batch.id)
        _, live = await self.rows.unfinished(batch.id, now)
        if live == 0 or grace_over:

            async def end(b: BatchRecord) -> None:
                await self._finalize(b, status)

            self._job(batch, end)

    def _job(self, batch: BatchRecord, work: Callable[[BatchRecord], Awaitable[None]]) -> None:
        """Start batch-level work here unless it runs here already (or on another server)."""
        if batch.id in self._jobs:
            return
        self._jobs[batch.id] = asyncio.create_task(self._lead(batch, work))

    async def _lead(
        self, batch: BatchRecord, work: Callable[[BatchRecord], Awaitable[None]]
    ) -> None:
        try:
            now = self.clock.now()
            if not await self.rows.lease.claim(
                batch.id, self.owner, now, now + int(self.settings.batch_lease_seconds)
            ):
                return  # another server does it
            try:
                await work(batch)
            finally:
                await self.rows.lease.release(batch.id, self.owner)
        except Exception:
            log.exception("batch %s: %s failed; retrying at the next poll", batch.id, batch.status)
        finally:
            self._jobs.pop(batch.id, None)
            self.kick()

    async def _keep_alive(self, batch_id: str) -> None:
        now = self.clock.now()
        await self.rows.lease.claim(
            batch_id, self.owner, now, now + int(self.settings.batch_lease_seconds)
        )

    # validating ----------------------------------------------------------------------------
    async def _validate(self, batch: BatchRecord) -> None:
        try:
            record = await self.files.retrieve_file(batch.project_id, batch.input_file_id)
        except FileNotFound:
            await self._fail(batch, "file_not_found", "The input file no longer exists.", None)
            return
        if record.bytes > self.settings.batch_max_bytes:
            limit = self.settings.batch_max_bytes
            await self._fail(
                batch, "file_too_large", f"The input file is larger than {limit} bytes.", None
            )
            return
        last = [self.clock.time()]

        async def keep_alive() -> None:
            if self.clock.time() - last[0] > self.settings.batch_lease_seconds / 3:
                last[0] = self.clock.time()
                await self._keep_alive(batch.id)

        check = await check_input(
            self.blobs,
            record.blob_key,
            batch.id,
            batch.endpoint,
            validation_options(self.settings),
            self.rows.insert_lines,
            keep_alive,
        )
        errors = check.errors
        engine = None
        if not errors and check.stored != check.requests:
            # The validator and the splitter disagree on a line: refuse rather than skip it.
            errors = [
                {
                    "code": "invalid_file",
                    "message": f"{check.requests} requests found, {check.stored} readable.",
                    "param": None,
                    "line": None,
                }
            ]
        if not errors:
            engine = await self.router.engine_for(check.model)
            if engine is None:
                errors = [
                    {
                        "code": "model_not_found",
                        "message": f"The model {json.dumps(check.model)} is not served by any "
                        "engine (FILEDOCK_ENGINE_URL, FILEDOCK_ENGINES_FILE).",
                        "param": "body.model",
                        "line": check.model_line,
                    }
                ]
        if errors or engine is None:
            while await self.rows.delete_lines(batch.id):
                pass
            await self._end(batch, "failed", errors=errors_json(errors))
            return
        started = await self.rows.start(
            batch.id,
            self.owner,
            check.requests,
            check.model,
            engine.name,
            record.blob_key,
            self.clock.now(),
        )
        if not started:
            log.info("batch %s changed while being validated (cancelled?)", batch.id)

    async def _fail(self, batch: BatchRecord, code: str, message: str, line: int | None) -> None:
        error = {"code": code, "message": message, "param": "input_file_id", "line": line}
        await self._end(batch, "failed", errors=errors_json([error]))

    # ending --------------------------------------------------------------------------------
    async def _completed(self, batch: BatchRecord) -> None:
        await self._finalize(batch, "completed")

    async def _finalize(self, batch: BatchRecord, status: str) -> None:
        if status != "completed":
            await self.rows.fence(batch.id)
        reserved = await self.rows.reserve_files(batch.id, new_file_id(), new_file_id())
        last = [self.clock.time()]

        async def keep_alive() -> None:
            if self.clock.time() - last[0] > self.settings.batch_lease_seconds / 3:
                last[0] = self.clock.time()
                await self._keep_alive(batch.id)

        files = await self.writer.write(batch, status, reserved, keep_alive)
        await self._end(
            batch,
            status,
            output_file_id=files.output_file_id,
            error_file_id=files.error_file_id,
            failed=files.failed,
        )

    async def _end(
        self,
        batch: BatchRecord,
        status: str,
        *,
        output_file_id: str | None = None,
        error_file_id: str | None = None,
        failed: int = 0,
        errors: str | None = None,
    ) -> None:
        now = self.clock.now()
        event = new_event(status, batch.id, now) if self.webhooks.enabled else None
        ended = await self.rows.end(
            batch.id,
            self.owner,
            status,
            STAMPS[status],
            now,
            output_file_id=output_file_id,
            error_file_id=error_file_id,
            failed=failed,
            event=event,
            errors=errors,
        )
        if not ended:
            return
        log.info("batch %s %s", batch.id, status)
        self.observers.batch_ended(batch.id, status)
        self.webhooks.kick()
        # Counts and usage are frozen in the batch row; its request rows are not needed now.
        while await self.rows.delete_lines(batch.id):
            pass

    # leases --------------------------------------------------------------------------------
    async def renew(self) -> None:
        """Extend the leases of the requests, slots and batches this server holds."""
        until = self.clock.now() + int(self.settings.batch_lease_seconds)
        held: set[str] = set()
        for lane in self.lanes.values():
            await lane.renew()
            held |= lane.held_batches()
        for batch_id in held:
            await self.rows.renew_lines(batch_id, self.owner, until)
        for batch_id in list(self._jobs):
            await self._keep_alive(batch_id)

    async def close(self) -> None:
        """Stop: requests in flight are aborted and given back, so a restart resumes at once."""
        await cancel_and_wait([*self._polls.stop(), *self._renewals.stop()])
        for lane in self.lanes.values():
            await lane.close()
        await cancel_and_wait(list(self._jobs.values()))
        await self.recorder.close()
        # Requests the lanes held when they stopped go back by their rows, not by what memory
        # still knew: a claim cancelled before its lines were queued, or a send task cancelled
        # before it first ran, would otherwise stay leased until the lease lapsed.
        try:
            await self.rows.release_lines(self.owner)
        except Exception:
            log.exception("giving back this server's batch requests failed; their leases lapse")
        await self.router.close()
