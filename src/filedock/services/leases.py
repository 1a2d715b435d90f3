"""Blob leases: one server process's side of the blob ledger.

Before the first byte of a blob, `begin(key, kind)` records an intent with a lease; while the
process holds the key (writing, validating, composing) one renewer task extends the leases of
every key it holds, in one statement per interval. Publishing the row consumes the intent in the
database (see metadata/ledger.py); an aborted write deletes its bytes, then `release()` drops the
intent. A key whose renewal failed is *lost* (a sweeper claimed it after the process stalled for a
whole lease): `check()` raises, so the work fails cleanly instead of publishing missing bytes.

`step(name)` is a test hook: services call it between the steps of every write, so a test can
run a sweep (or anything) at each of them, deterministically.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable

from filedock.clock import Clock
from filedock.errors import MetadataError, StorageError
from filedock.metadata.ledger import BlobLedger
from filedock.services.tasks import cancel_and_wait

log = logging.getLogger("filedock.leases")

StepHook = Callable[[str, str], Awaitable[None]]


class LeaseLost(StorageError):
    """A blob's lease lapsed and a sweeper claimed it: its bytes must not be published."""


class BlobLeases:
    """The intents this process holds, and the task that keeps their leases alive."""

    def __init__(self, ledger: BlobLedger, clock: Clock, lease_seconds: float) -> None:
        self.ledger = ledger
        self.clock = clock
        self.lease_seconds = max(1, int(lease_seconds))
        self.owner = "srv_" + secrets.token_hex(8)
        self.held: dict[str, str] = {}  # key -> kind
        self.lost: set[str] = set()
        self.on_step: StepHook | None = None
        self._task: asyncio.Task[None] | None = None

    def _lease_until(self) -> int:
        return self.clock.now() + self.lease_seconds

    async def begin(self, key: str, kind: str) -> None:
        """Record the intent for a new blob; call before its first byte is written."""
        await self.ledger.record(key, kind, self.owner, self._lease_until(), self.clock.now())
        self.held[key] = kind

    async def renew_now(self) -> None:
        """Extend every held lease (the renewer does this every third of a lease)."""
        keys = list(self.held)
        if not keys:
            return
        renewed = await self.ledger.renew(self.owner, keys, self._lease_until())
        for key in keys:
            # Published (consumed) or released meanwhile keys are no longer in `held`.
            if (
                key not in renewed
                and key in self.held
                and not await self.ledger.is_held(key, self.owner)
            ):
                self.lost.add(key)

    def check(self, key: str) -> None:
        """Raise LeaseLost if a renewal found `key` claimed (before publishing it). The binding
        check is the database's: the publishing insert fails on a claimed intent."""
        if key in self.lost:
            raise LeaseLost(f"Blob {key} was claimed by the sweeper (its lease lapsed)")

    def published(self, key: str) -> None:
        """The row consumed the intent: stop renewing it."""
        self.held.pop(key, None)
        self.lost.discard(key)

    async def release(self, key: str) -> None:
        """The bytes are gone (aborted, refused): drop the intent."""
        self.held.pop(key, None)
        self.lost.discard(key)
        try:
            await self.ledger.release(key, self.owner)
        except MetadataError:
            # The lease lapses instead, and the sweeper finds nothing to delete.
            log.warning("could not release the intent of blob %s", key)

    async def step(self, name: str, key: str) -> None:
        """A point between two steps of a write (a test hook; nothing happens in production)."""
        if self.on_step is not None:
            await self.on_step(name, key)

    # renewer ---------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._renew_forever())

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                await self.renew_now()
            except Exception:
                log.exception("renewing blob leases failed; retrying")

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
            self._task = None
