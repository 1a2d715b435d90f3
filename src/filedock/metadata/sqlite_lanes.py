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
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from filedock.errors import MetadataError

T = TypeVar("T")
# A thread hands the results it holds back once it finds its queue empty, holds this many,
# or has held the first of them this long (a slow statement then delays few others).
BATCH = 64
HOLD_SECONDS = 0.001


class Job(Generic[T]):
    """One statement on its way through a lane; `future` is what its caller awaits."""

    __slots__ = ("finished", "future", "loop", "ok", "run", "value", "waiter")

    def __init__(self, run: Callable[[sqlite3.Connection], T], loop: asyncio.AbstractEventLoop):
        self.run = run
        self.loop = loop
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


def _deliver(jobs: list[Job[Any]]) -> None:
    for job in jobs:
        job.finished = True
        future = job.future
        if not future.done():
            if job.ok:
                future.set_result(job.value)
            else:
                future.set_exception(job.value)
        if job.waiter is not None and not job.waiter.done():
            job.waiter.set_result(None)


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

    def submit(self, run: Callable[[sqlite3.Connection], T]) -> Job[T]:
        if self._stopped:
            raise MetadataError(f"Metadata database error: {self._name} is closed")
        if len(self._threads) < self._size:
            self._start()
        job = Job(run, asyncio.get_running_loop())
        self._queue.put(job)
        return job

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
        done: list[Job[Any]] = []  # run, not yet handed back
        since = 0.0  # when the first of `done` had run
        try:
            while True:
                if not done:
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
                    self._hand_back(done)
                    queue_.put(_STOP)  # for the lane's other threads
                    return
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
