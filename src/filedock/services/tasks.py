"""Background tasks: the poll loop of a worker, and stopping tasks (cancel them, then wait
until each has really stopped)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
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
    # swallows a cancel that arrives as the awaited event is set, and close() sets it.
    while not closing():
        wake.clear()
        try:
            await work()
        except Exception:
            log.exception("%s failed; retrying at the next poll", what)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(poll_seconds):
                await wake.wait()


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel every task first (so they stop together), then wait for each; their
    cancellation is the expected end, any other error propagates."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
