"""Results of batch requests, recorded durably in groups (one transaction for many results).

A sender awaits `record()`: it returns once the result is committed (True if it counted, False
if the request's lease had moved on). Results arriving while a transaction runs go into the
next one, so the database sees a few transactions per round trip, not one per request.
"""

from __future__ import annotations

import asyncio
import logging

from filedock.metadata.batches import BatchRows, LineResult
from filedock.services.tasks import cancel_and_wait

log = logging.getLogger("filedock.batch_runner")

GROUP_MAX = 500


class ResultRecorder:
    """Group commit of request results."""

    def __init__(self, rows: BatchRows) -> None:
        self.rows = rows
        self._items: list[tuple[LineResult, asyncio.Future[bool]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def record(self, result: LineResult) -> bool:
        """Record one result; True once it is durable and counted."""
        if self._task is None or self._task.done():
            return (await self.rows.record([result]))[0]
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._items.append((result, future))
        self._wake.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        while self._items:
            group, self._items = self._items[:GROUP_MAX], self._items[GROUP_MAX:]
            try:
                counted = await self.rows.record([r for r, _ in group])
            except Exception as exc:
                log.warning("recording %d batch results failed: %s", len(group), exc)
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), ok in zip(group, counted, strict=True):
                if not future.done():
                    future.set_result(ok)

    async def close(self) -> None:
        """Record what is waiting, then stop."""
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
        await self._flush()
