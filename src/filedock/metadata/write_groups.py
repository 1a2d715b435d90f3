"""Group commit: writes of one kind that wait together share one statement and one commit.

A `WriteGroup` says how to write many items (`statements`) and what each item's outcome is
(`outcomes`). Callers hand items to `Database.write_in_group`, which returns an item's outcome
once it is committed. While one group's write runs, the items arriving meanwhile wait for the
next one, so a busy database sees a few commits per round trip instead of one per item.

Where the grouping happens is the database's choice: on the event loop by default
(`flush_on_loop`); SQLite's writer thread takes the waiting items itself when it gets to them
(metadata/sqlite_lanes.py), which spares the event loop hops between a commit and its callers.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

I = TypeVar("I")  # noqa: E741 - an item
R = TypeVar("R")  # its outcome
Row = tuple[Any, ...]
Statement = tuple[str, Sequence[Any]]


class WriteGroup(Generic[I, R]):
    """One kind of grouped write, and the items waiting for it."""

    def __init__(
        self,
        statements: Callable[[Sequence[I]], list[Statement]],
        outcomes: Callable[[Sequence[I], list[list[Row]]], list[R]],
    ) -> None:
        self.statements = statements  # each committed on its own, in order
        self.outcomes = outcomes  # from the rows each statement returned
        self._waiting: list[tuple[I, asyncio.Future[R]]] = []
        self._lock = threading.Lock()  # items are added on the loop, taken on a writer thread
        self._taker_due = False  # a taker (a queued job, a flush task) will take what waits
        self._task: asyncio.Task[None] | None = None

    def add(self, item: I, future: asyncio.Future[R]) -> bool:
        """Queue `item`; True when the caller must start a taker (none is due yet)."""
        with self._lock:
            self._waiting.append((item, future))
            if self._taker_due:
                return False
            self._taker_due = True
            return True

    def take(self, *, stay: bool = False) -> list[tuple[I, asyncio.Future[R]]]:
        """Every waiting item. The next `add` starts a new taker, unless `stay` (the taker
        comes back for more) and something was taken."""
        with self._lock:
            taken, self._waiting = self._waiting, []
            if not (stay and taken):
                self._taker_due = False
            return taken

    def write(self, items: Sequence[I], run: Callable[[str, Sequence[Any]], list[Row]]) -> list[R]:
        """Write `items` with a synchronous `run(sql, params) -> rows` (a writer thread's)."""
        return self.outcomes(items, [run(sql, params) for sql, params in self.statements(items)])

    async def write_async(
        self, items: Sequence[I], run: Callable[[str, Sequence[Any]], Awaitable[list[Row]]]
    ) -> list[R]:
        rows = [await run(sql, params) for sql, params in self.statements(items)]
        return self.outcomes(items, rows)

    def flush_on_loop(self, run: Callable[[str, Sequence[Any]], Awaitable[list[Row]]]) -> None:
        """Start a task on the event loop that writes what waits until nothing does."""
        self._task = asyncio.get_running_loop().create_task(self._flush(run))

    async def _flush(self, run: Callable[[str, Sequence[Any]], Awaitable[list[Row]]]) -> None:
        while taken := self.take(stay=True):
            items = [item for item, _ in taken]
            try:
                outcomes = await self.write_async(items, run)
            except Exception as exc:
                settle(taken, exc)
            else:
                settle(taken, outcomes)


def settle(
    taken: Sequence[tuple[Any, asyncio.Future[Any]]], outcome: Sequence[Any] | BaseException
) -> None:
    """Resolve the callers' futures (on their event loop): each with its outcome, or all with
    one error."""
    for i, (_, future) in enumerate(taken):
        if future.done():  # its caller gave up waiting; the write happened all the same
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome[i])
