"""Background tasks: the poll loop of a worker, and stopping tasks (cancel them, then wait
until each has really stopped)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class PollLoop:
    """A worker's loop: runs `work` again as soon as kick() is called, or after `poll_seconds`,
    until stop(). A failure of `work` is logged as `what` failed and retried at the next poll."""

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
        self._task = asyncio.create_task(self._run())

    def stop(self) -> list[asyncio.Task[None]]:
        """End the loop: its task, for the caller to cancel_and_wait with its others."""
        self._closing = True
        task, self._task = self._task, None
        return [task] if task is not None else []

    async def _run(self) -> None:
        # The flag, not only cancellation, ends the loop: on Python 3.11 `asyncio.wait_for`
        # swallows a cancel that arrives as the awaited event is set, and stopping sets it.
        while not self._closing:
            self._wake.clear()
            try:
                await self.work()
            except Exception:
                self.log.exception("%s failed; retrying at the next poll", self.what)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel every task first (so they stop together), then wait for each; their
    cancellation is the expected end, any other error propagates."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
