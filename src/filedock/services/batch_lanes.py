"""One engine's lane: engine slots (the cross-server limit), AIMD, dispatch, retries, results.

A lane sends a request only while it holds one of the engine's slots (leased rows in
`engine_slots`, so the limit holds across servers); within its slots it holds as many as its
AIMD window (services/batch_aimd.py) allows. A request holds its slot until its result is
durably recorded, so the requests that may be re-sent after a crash never exceed the slots held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec

from filedock.blobs.base import BlobStore
from filedock.clock import Clock
from filedock.errors import BlobNotFound, StorageError
from filedock.metadata.batches import BatchRows, LineResult
from filedock.metadata.engine_slots import EngineSlotRows
from filedock.models import BatchUsage, ClaimedLine
from filedock.services.batch_aimd import Aimd
from filedock.services.batch_observer import Observers
from filedock.services.batch_output import answered_line, unanswered_line
from filedock.services.batch_recorder import ResultRecorder
from filedock.services.engines import Engine, EngineAnswer
from filedock.services.tasks import cancel_and_wait
from filedock.settings import Settings

log = logging.getLogger("filedock.batch_runner")

MAX_RETRY_DELAY = 300.0
SPAN_BYTES = 4 * 1024 * 1024  # requests next to each other are read with one ranged read


@dataclass(frozen=True)
class RunningBatch:
    """What a lane needs of a batch it sends requests of."""

    id: str
    endpoint: str
    blob_key: str


@dataclass(frozen=True)
class Pending:
    batch: RunningBatch
    line: ClaimedLine
    body: bytes | None  # None: the input bytes could not be read


class _Line(msgspec.Struct):
    body: msgspec.Raw = msgspec.Raw(b"null")


_line_decoder = msgspec.json.Decoder(_Line)


def request_body(line: bytes) -> bytes | None:
    """The `body` of an input line, as its bytes (sent to the engine unchanged)."""
    try:
        return bytes(_line_decoder.decode(line).body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


@dataclass(eq=False)
class EngineLane:
    """Runs the requests of every batch routed to one engine, on one server."""

    engine: Engine
    settings: Settings
    rows: BatchRows
    slots: EngineSlotRows
    blobs: BlobStore
    recorder: ResultRecorder
    observers: Observers
    clock: Clock
    owner: str
    drained: Callable[[], None] = lambda: None  # called when the last request in hand finished
    batches: dict[str, RunningBatch] = field(default_factory=dict)  # may be sent now
    queue: deque[Pending] = field(default_factory=deque)
    in_flight: dict[tuple[str, int], asyncio.Task[None]] = field(default_factory=dict)
    held: set[int] = field(default_factory=set)  # engine slots held

    def __post_init__(self) -> None:
        self.name = self.engine.name
        self.limit = self.engine.config.max_concurrency
        self.aimd = Aimd(self.limit)
        self.wake = asyncio.Event()
        self._turn = 0
        self._claim_after = 0.0
        self._acquire_after = 0.0
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._logged = 0.0

    # control -------------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def set_batches(self, batches: dict[str, RunningBatch]) -> None:
        """The batches this lane may send requests of (the runner's view after each poll)."""
        gone = set(self.batches) - set(batches)
        self.batches = batches
        if gone:
            self._claim_after = 0.0
            kept = deque(p for p in self.queue if p.batch.id not in gone)
            for p in self.queue:
                if p.batch.id in gone:
                    self._give_back(p)
            self.queue = kept
        if batches:
            self._claim_after = min(self._claim_after, time.monotonic())
        self.wake.set()

    def held_batches(self) -> set[str]:
        """Batches with requests in this lane's hands (queued or in flight)."""
        return {p.batch.id for p in self.queue} | {key[0] for key in self.in_flight}

    def abort(self, batch_id: str) -> int:
        """Abort the requests in flight of a batch (cancel or expiry grace is over)."""
        tasks = [t for key, t in self.in_flight.items() if key[0] == batch_id]
        for task in tasks:
            task.cancel()
        return len(tasks)

    # the loop ------------------------------------------------------------------------------
    async def _run(self) -> None:
        if self.engine.config.models is None:
            self.engine.prepare()  # its model list is asked for when a batch is validated
        await self.slots.ensure(self.name, self.limit)
        while not self._closing:
            self.wake.clear()
            delay = self.settings.batch_poll_seconds
            try:
                delay = await self._step()
            except Exception:
                log.exception("engine lane %s failed a step; retrying", self.name)
            self.observers.concurrency(
                self.name, len(self.in_flight), self.aimd.window, len(self.held)
            )
            if log.isEnabledFor(logging.DEBUG) and time.monotonic() - self._logged > 2:
                self._logged = time.monotonic()
                log.debug(
                    "engine %s: window %.1f, in flight %d, slots %d, queued %d, latency %.3f/%.3f",
                    self.name,
                    self.aimd.window,
                    len(self.in_flight),
                    len(self.held),
                    len(self.queue),
                    self.aimd.smoothed or 0.0,
                    self.aimd.base or 0.0,
                )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self.wake.wait()

    async def _step(self) -> float:
        """One round; returns how long to wait at most before the next one."""
        poll = self.settings.batch_poll_seconds
        mono = time.monotonic()
        target = self.aimd.target()
        if not self.batches and not self.queue:
            await self._release(len(self.held) - len(self.in_flight))
            return poll
        if len(self.held) > target:
            await self._release(min(len(self.held) - target, len(self.held) - len(self.in_flight)))
        elif len(self.held) < target and mono >= self._acquire_after:
            now = self.clock.now()
            want = target - len(self.held)
            got = await self.slots.acquire(
                self.name,
                self.owner,
                self.limit,
                want,
                now,
                now + int(self.settings.batch_lease_seconds),
            )
            self.held.update(got)
            # Every slot asked for: ask again as soon as the window grows (its slow start
            # doubles it every round trip). Fewer: slots are taken by other servers: ask again
            # soon, not on every answer.
            self._acquire_after = (
                0.0 if len(got) >= want else mono + (0.05 if got else min(0.25, poll))
            )
        self._dispatch()
        wait = poll
        # Claim while a window's worth is still queued: the next requests are at hand when
        # slots come free (a finished request starts the next at once, see _send).
        if self.batches and len(self.queue) < target and mono >= self._claim_after:
            claimed = await self._claim(2 * target - len(self.queue))
            if not claimed:
                self._claim_after = mono + await self._idle_delay(poll)
                wait = max(0.0, self._claim_after - mono)
            self._dispatch()
        if self.queue and len(self.held) < target:
            wait = min(wait, max(0.01, self._acquire_after - mono))
        if not self.queue and not self.in_flight and self.held:
            await self._release(len(self.held))
        return wait

    def _dispatch(self) -> None:
        """Send queued requests while slots are free."""
        while self.queue and len(self.in_flight) < len(self.held) and not self._closing:
            pending = self.queue.popleft()
            key = (pending.batch.id, pending.line.line)
            self.in_flight[key] = asyncio.create_task(self._send(pending))

    async def _idle_delay(self, poll: float) -> float:
        """Nothing to claim: until the next retry is due, at most a poll."""
        due = await self.rows.next_due_ms(list(self.batches))
        if due is None:
            return poll
        return float(min(poll, max(0.02, due / 1000 - self.clock.time())))

    async def _release(self, count: int) -> None:
        if count <= 0:
            return
        free = sorted(self.held, reverse=True)[:count]
        await self.slots.release(self.name, self.owner, free)
        self.held.difference_update(free)

    async def renew(self) -> None:
        """Extend the slot leases; a slot lost meanwhile (a long stall) is dropped."""
        if self.held:
            now = self.clock.now()
            self.held &= await self.slots.renew(
                self.name, self.owner, now + int(self.settings.batch_lease_seconds)
            )

    # claiming ------------------------------------------------------------------------------
    async def _claim(self, want: int) -> int:
        order = list(self.batches.values())
        if not order or want <= 0:
            return 0
        self._turn = (self._turn + 1) % len(order)
        order = order[self._turn :] + order[: self._turn]
        claimed = 0
        for batch in order:
            now = self.clock.now()
            lines = await self.rows.claim_lines(
                batch.id,
                self.owner,
                now,
                now + int(self.settings.batch_lease_seconds),
                int(self.clock.time() * 1000),
                want - claimed,
            )
            if lines:
                self.queue.extend(await self._read(batch, lines))
                claimed += len(lines)
            if claimed >= want:
                break
        return claimed

    async def _read(self, batch: RunningBatch, lines: list[ClaimedLine]) -> list[Pending]:
        """The requests' bytes, by ranged reads (neighbouring requests in one read)."""
        out: list[Pending] = []
        i = 0
        while i < len(lines):
            j = i + 1
            start = lines[i].byte_offset
            while (
                j < len(lines)
                and lines[j].byte_offset + lines[j].byte_length - start <= SPAN_BYTES
                and lines[j].byte_offset >= lines[j - 1].byte_offset
            ):
                j += 1
            end = max(c.byte_offset + c.byte_length for c in lines[i:j])
            try:
                data = b"".join(
                    [chunk async for chunk in self.blobs.read(batch.blob_key, start, end)]
                )
            except (BlobNotFound, StorageError) as exc:
                log.warning("batch %s: input bytes unreadable: %s", batch.id, exc)
                out.extend(Pending(batch, c, None) for c in lines[i:j])
            else:
                for c in lines[i:j]:
                    at = c.byte_offset - start
                    out.append(Pending(batch, c, request_body(data[at : at + c.byte_length])))
            i = j
        return out

    # sending -------------------------------------------------------------------------------
    async def _send(self, p: Pending) -> None:
        """Send `p`, then, on the same slot and in the same task, the next queued requests
        (no task to start and no wake-up to wait for between a result and the next request)."""
        task = asyncio.current_task()
        try:
            while True:
                await self._send_one(p)
                self.in_flight.pop((p.batch.id, p.line.line), None)
                self.wake.set()  # the lane claims more before the queue runs dry
                if (
                    task is None
                    or self._closing
                    or not self.queue
                    or len(self.in_flight) >= len(self.held)
                ):
                    break
                p = self.queue.popleft()
                self.in_flight[(p.batch.id, p.line.line)] = task
        finally:
            self.in_flight.pop((p.batch.id, p.line.line), None)
            self._dispatch()  # the slot's next request, without waiting for the lane's step
            self.wake.set()
            if not self.in_flight and not self.queue:
                self.drained()  # a batch may be complete: the runner need not wait for its poll

    async def _send_one(self, p: Pending) -> None:
        try:
            if p.body is None:
                result = self._final(
                    p,
                    unanswered_line(
                        p.line.custom_id, "input_unreadable", "The input file's bytes are missing."
                    ),
                    "failed",
                )
            else:
                self.observers.request_sent(self.name)
                answer = await self.engine.send(p.batch.endpoint, p.body)
                self.observers.request_answered(self.name, answer.status, answer.latency)
                self.aimd.on_answer(answer.status, answer.latency, time.monotonic())
                result = self._result(p, answer)
            if await self.recorder.record(result) and result.outcome is not None:
                self.observers.line_finished(self.name, p.batch.id, result.outcome)
        except asyncio.CancelledError:
            # Aborted (a cancel's or expiry's grace is over, or shutdown): the request is given
            # back without a result; the batch's end decides what becomes of it.
            with contextlib.suppress(Exception):
                await asyncio.shield(self.recorder.record(self._back(p, 0)))
            raise
        except Exception:
            log.exception("batch %s line %d: sending failed", p.batch.id, p.line.line)
            with contextlib.suppress(Exception):
                await self.recorder.record(self._back(p, self._delay(p.line.attempts, None)))

    def _result(self, p: Pending, answer: EngineAnswer) -> LineResult:
        status = answer.status
        request_id = answer.request_id or "req_" + secrets.token_hex(16)
        if status is not None and 200 <= status < 300:
            line, usage = answered_line(p.line.custom_id, status, request_id, answer.body)
            return self._final(p, line, "completed", usage)
        if answer.retryable and p.line.attempts <= self.settings.batch_max_retries:
            delay = self._delay(p.line.attempts, answer.retry_after)
            reason = (
                "timeout"
                if status is None and "Timeout" in (answer.error or "")
                else "connection"
                if status is None
                else str(status)
                if status == 429
                else "5xx"
            )
            self.observers.request_retried(self.name, reason, delay)
            return self._back(p, delay)
        if status is not None:
            line, _ = answered_line(p.line.custom_id, status, request_id, answer.body)
            return self._final(p, line, "failed")
        code = "request_timeout" if "Timeout" in (answer.error or "") else "engine_unreachable"
        message = f"The engine gave no answer after {p.line.attempts} attempts: {answer.error}"
        return self._final(p, unanswered_line(p.line.custom_id, code, message), "failed")

    def _delay(self, attempts: int, retry_after: float | None) -> float:
        base: float = self.settings.batch_retry_base_seconds * 2.0 ** max(0, attempts - 1)
        delay = min(MAX_RETRY_DELAY, base) * random.uniform(0.5, 1.0)
        return max(delay, retry_after or 0.0)

    def _final(
        self, p: Pending, line: str, outcome: str, usage: BatchUsage | None = None
    ) -> LineResult:
        return LineResult(p.batch.id, p.line.line, self.owner, outcome, line, usage)

    def _back(self, p: Pending, delay: float, *, sent: bool = True) -> LineResult:
        not_before = int((self.clock.time() + delay) * 1000) if delay > 0 else 0
        return LineResult(
            p.batch.id, p.line.line, self.owner, None, not_before_ms=not_before, sent=sent
        )

    def _give_back(self, p: Pending) -> None:
        task = asyncio.ensure_future(self.recorder.record(self._back(p, 0, sent=False)))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    # shutdown ------------------------------------------------------------------------------
    async def close(self) -> None:
        """Abort what is in flight and give every held request and slot back."""
        self._closing = True
        if self._task is not None:
            await cancel_and_wait([self._task])
        await cancel_and_wait(list(self.in_flight.values()))
        queued, self.queue = list(self.queue), deque()
        for p in queued:
            with contextlib.suppress(Exception):
                await self.recorder.record(self._back(p, 0, sent=False))
        with contextlib.suppress(Exception):
            await self._release(len(self.held))
