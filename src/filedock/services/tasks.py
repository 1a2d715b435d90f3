"""Background tasks: the poll loop of a worker, and stopping tasks (cancel them, then wait
until each has really stopped)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


async def poll_loop(
    work: Callable[[], Awaitable[object]],
    wake: asyncio.Event,
    poll_seconds: float,
    closing: Callable[[], bool],
    log: logging.Logger,
    what: str,
) -> None:
    """Run `work` until `closing()`: again as soon as `wake` is set, or after `poll_seconds`.

    A failure of `work` is logged as `what` failed and retried at the next poll.
    """
    # The flag, not only cancellation, ends the loop: on Python 3.11 `asyncio.wait_for`
    # swallows a cancel that arrives as the awaited event is set, and stopping sets it.
    while not closing():
        wake.clear()
        try:
            await work()
        except Exception:
            log.exception("%s failed; retrying at the next poll", what)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(poll_seconds):
                await wake.wait()


@dataclass(eq=False)
class PollLoop:
    """A worker's `poll_loop`, with its wake event and closing flag: kick() runs `work` now,
    stop() ends the loop."""

    work: Callable[[], Awaitable[object]]
    poll_seconds: float
    log: logging.Logger
    what: str
    _wake: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _closing: bool = field(init=False, default=False)
    _task: asyncio.Task[None] | None = field(init=False, default=None)

    def kick(self) -> None:
        """Run `work` now, not at the next poll."""
        self._wake.set()

    def start(self) -> None:
        loop = poll_loop(self.work, self._wake, self.poll_seconds, self.closed, self.log, self.what)
        self._task = asyncio.create_task(loop)

    def closed(self) -> bool:
        return self._closing

    def stop(self) -> list[asyncio.Task[None]]:
        """End the loop: its task, for the caller to cancel_and_wait with its others."""
        self._closing = True
        task, self._task = self._task, None
        return [task] if task is not None else []


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel every task first (so they stop together), then wait for each; their
    cancellation is the expected end, any other error propagates."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
