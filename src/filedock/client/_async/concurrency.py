"""Concurrency for the async client, on anyio; client/_sync/concurrency.py is its thread twin.

The client source uses only these names, so the generated sync client runs the same logic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from filedock.client.errors import UploadCancelled

T = TypeVar("T")


async def to_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run blocking file I/O in a worker thread."""
    return await anyio.to_thread.run_sync(fn, *args)


async def sleep(seconds: float) -> None:
    await anyio.sleep(seconds)


def shielded() -> anyio.CancelScope:
    """Clean-up that must finish even while the caller is being cancelled."""
    return anyio.CancelScope(shield=True)


class AsyncTaskGroup:
    """Runs tasks at most `limit` at a time; the first failure stops the rest and is raised."""

    def __init__(self, limit: int) -> None:
        self._limit = anyio.Semaphore(limit)
        self._group = anyio.create_task_group()

    async def __aenter__(self) -> AsyncTaskGroup:
        await self._group.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._group.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            raise _first_failure(group) from None

    @property
    def stopped(self) -> bool:
        """True once a task failed (the others are being stopped)."""
        return self._group.cancel_scope.cancel_called

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        async def run() -> None:
            async with self._limit:
                await fn(*args)

        self._group.start_soon(run)


def _first_failure(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that stopped the group, not a cancellation that followed it."""
    leaves: list[BaseException] = []

    def walk(e: BaseException) -> None:
        if isinstance(e, BaseExceptionGroup):
            for inner in e.exceptions:
                walk(inner)
        else:
            leaves.append(e)

    walk(group)
    cancelled = anyio.get_cancelled_exc_class()
    # Tasks that saw the group stop raise UploadCancelled: they are consequences, not the cause;
    # when only those and cancellations remain, the caller itself was cancelled.
    real = [e for e in leaves if not isinstance(e, (cancelled, UploadCancelled))]
    if real:
        return real[0]
    # No task failed, so the group stopped because the caller was cancelled (anyio may have
    # absorbed the cancellations themselves): the caller's cancellation goes on.
    return next((e for e in leaves if isinstance(e, cancelled)), cancelled())
