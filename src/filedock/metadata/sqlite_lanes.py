"""Threads that own SQLite connections and run queued statements, handing results back in batches.

A statement handed to a thread pool costs two wake-ups: the worker's, and the event loop's when
the result comes back. A `Lane` is a queue served by its own threads, each with one connection:
a thread goes on taking statements while its queue has any and hands the results it holds back
with one `call_soon_threadsafe` per event loop when the queue is empty (or it holds `BATCH`, or
has held one for `HOLD_SECONDS`). Under load one wake-up then serves many statements, and a
slow statement holds up only the results of the thread running it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from filedock.errors import MetadataError
from filedock.metadata.write_groups import WriteGroup, settle

log = logging.getLogger("filedock.metadata")
T = TypeVar("T")
R = TypeVar("R")
# A thread hands the results it holds back once it finds its queue empty, holds this many,
# or has held the first of them this long (a slow statement then delays few others).
BATCH = 64
HOLD_SECONDS = 0.001


class Job(Generic[T]):
    """One statement on its way through a lane; `future` is what its caller awaits.

    An `autocommit` job (a write outside any transaction) that reaches a connection inside a
    transaction waits until that transaction has ended, so it is neither committed nor rolled
    back with it.
    """

    __slots__ = ("autocommit", "finished", "future", "loop", "ok", "run", "value", "waiter")
    urgent = False  # handed back at once, not with the results of the statements after it

    def __init__(
        self,
        run: Callable[[sqlite3.Connection], T],
        loop: asyncio.AbstractEventLoop,
        *,
        autocommit: bool = False,
    ):
        self.run = run
        self.loop = loop
        self.autocommit = autocommit
        self.future: asyncio.Future[T] = loop.create_future()
        self.ok = False
        self.value: Any = None
        self.finished = False  # set on the event loop once the result is delivered
        self.waiter: asyncio.Future[None] | None = None  # a cancelled caller waits on it

    async def result(self) -> T:
        """The statement's result; a cancelled caller still waits until it has run, so
        clean-up after the cancellation sees its effect."""
        try:
            return await self.future
        except asyncio.CancelledError:
            if not self.finished:
                self.waiter = self.loop.create_future()
                await asyncio.wait([self.waiter])
            raise

    def deliver(self) -> None:
        """On the event loop: hand the result to the caller."""
        self.finished = True
        future = self.future
        if not future.done():
            if self.ok:
                future.set_result(self.value)
            else:
                future.set_exception(self.value)
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


class GroupJob(Job[list[Any]]):
    """A group commit (metadata/write_groups.py): when the thread gets to it, it writes every
    item of its group waiting by then, and resolves each item's caller directly."""

    __slots__ = ("group", "taken")
    urgent = True  # its callers hold engine slots until their results are durable

    def __init__(self, group: WriteGroup[Any, Any], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(self._write, loop, autocommit=True)
        self.group = group
        self.taken: list[tuple[Any, asyncio.Future[Any]]] = []

    def _write(self, conn: sqlite3.Connection) -> list[Any]:
        self.taken = self.group.take()
        if not self.taken:
            return []
        items = [item for item, _ in self.taken]
        return self.group.write(items, lambda sql, p: conn.execute(sql, p).fetchall())

    def deliver(self) -> None:
        self.finished = True
        settle(self.taken, self.value)


def _deliver(jobs: list[Job[Any]]) -> None:
    for job in jobs:
        try:
            job.deliver()
        except Exception:  # a bug: the other jobs' callers must not wait for ever
            log.exception("handing back a statement's result failed")


_STOP = None


class Lane:
    """A queue of statements and the `threads` threads (one connection each) that run them.

    Threads start with the first statement and open their connection then (a failure to
    connect fails that statement, the next one tries again). `stop()` lets every statement
    queued before it run, then closes the connections and ends the threads.
    """

    def __init__(
        self,
        name: str,
        threads: int,
        connect: Callable[[], sqlite3.Connection],
        translate: Callable[[Exception], Exception],
    ) -> None:
        self._name = name
        self._size = threads
        self._connect = connect
        self._translate = translate
        self._queue: queue.SimpleQueue[Job[Any] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()
        self._stopped = False

    def submit(self, run: Callable[[sqlite3.Connection], T], *, autocommit: bool = False) -> Job[T]:
        job = Job(run, asyncio.get_running_loop(), autocommit=autocommit)
        self._put(job)
        return job

    def submit_to_group(self, group: WriteGroup[Any, R], item: Any) -> asyncio.Future[R]:
        """Write `item` with its group's next commit (see GroupJob); its outcome."""
        self._check_open()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        if group.add(item, future):
            self._put(GroupJob(group, loop))
        return future

    def _check_open(self) -> None:
        if self._stopped:
            raise MetadataError(f"Metadata database error: {self._name} is closed")

    def _put(self, job: Job[Any]) -> None:
        self._check_open()
        if len(self._threads) < self._size:
            self._start()
        self._queue.put(job)

    def _start(self) -> None:
        with self._start_lock:
            if self._stopped:
                raise MetadataError(f"Metadata database error: {self._name} is closed")
            while len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._serve, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def stop(self) -> list[threading.Thread]:
        """Ask the threads to end after what is queued; the threads to join."""
        with self._start_lock:
            self._stopped = True
            threads = list(self._threads)
        self._queue.put(_STOP)  # each thread that sees it ends and passes it on
        return threads

    def _serve(self) -> None:
        conn: sqlite3.Connection | None = None
        queue_ = self._queue
        deferred: deque[Job[Any]] = deque()  # autocommit writes that came in a transaction
        done: list[Job[Any]] = []  # run, not yet handed back
        since = 0.0  # when the first of `done` had run
        try:
            while True:
                job: Job[Any] | None
                if deferred and conn is not None and not conn.in_transaction:
                    job = deferred.popleft()
                elif not done:
                    job = queue_.get()
                else:
                    try:
                        job = queue_.get_nowait()
                    except queue.Empty:
                        self._hand_back(done)
                        done = []
                        job = queue_.get()
                    else:
                        if len(done) >= BATCH or time.perf_counter() - since > HOLD_SECONDS:
                            self._hand_back(done)
                            done = []
                if job is _STOP:
                    for left in deferred:  # their transaction never ended: nothing ran them
                        left.value = MetadataError(f"Metadata database error: {self._name} closed")
                    self._hand_back(done + list(deferred))
                    queue_.put(_STOP)  # for the lane's other threads
                    return
                if job.autocommit and conn is not None and conn.in_transaction:
                    deferred.append(job)
                    continue
                try:
                    if conn is None:
                        conn = self._connect()
                    job.value = job.run(conn)
                    job.ok = True
                except sqlite3.Error as exc:
                    job.value = self._translate(exc)
                except Exception as exc:
                    job.value = exc
                if not done:
                    since = time.perf_counter()
                done.append(job)
                if job.urgent:
                    self._hand_back(done)
                    done = []
        finally:
            if conn is not None:
                conn.close()

    @staticmethod
    def _hand_back(batch: list[Job[Any]]) -> None:
        if not batch:
            return
        loop = batch[0].loop
        if all(job.loop is loop for job in batch):
            by_loop = {loop: batch}
        else:
            by_loop = {}
            for job in batch:
                by_loop.setdefault(job.loop, []).append(job)
        for loop, jobs in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting
                loop.call_soon_threadsafe(_deliver, jobs)
