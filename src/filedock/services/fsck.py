"""fsck: a full audit of the blob store against the database (`filedock fsck`).

The periodic sweep reads only the ledger's lapsed leases; this reads everything: every committed
blob and unfinished write in the store, every file and Uploads part row, every intent. It reports
blobs no row or live intent accounts for (orphans), unfinished writes without an intent (strays),
rows whose blob is missing, and (with `verify`) blobs whose size or sha256 differs from their
row. `repair` removes orphans and strays (never rows or referenced bytes). Safe on a live server:
the store is listed before the intents and then the rows are read, so a blob published
meanwhile is never an orphan, and a row whose blob was not listed is looked up again before it
counts as missing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import anyio.to_thread

from filedock.blobs.base import BlobStore
from filedock.clock import Clock
from filedock.errors import BlobNotFound
from filedock.metadata.ledger import HELD, BlobLedger, BlobRef
from filedock.services.sweeper import Sweeper, SweepReport


@dataclass
class FsckReport:
    """What is wrong; `ok` when nothing is."""

    blobs: int = 0
    rows: int = 0
    orphans: list[str] = field(default_factory=list)
    strays: list[str] = field(default_factory=list)
    missing: list[BlobRef] = field(default_factory=list)
    mismatched: list[tuple[BlobRef, str]] = field(default_factory=list)
    young: list[str] = field(default_factory=list)  # unaccounted, but within the grace
    repaired: int = 0
    lapsed_swept: int = 0

    @property
    def ok(self) -> bool:
        """Nothing left wrong (after a repair, what it removed no longer counts)."""
        unrepaired = [] if self.repaired else self.orphans + self.strays
        return not (unrepaired or self.missing or self.mismatched or self.young)

    def lines(self) -> list[str]:
        out = [f"checked {self.blobs} blobs against {self.rows} rows"]
        out += [f"orphan blob (no row, no live intent): {key}" for key in self.orphans]
        out += [f"unfinished write without an intent: {key}" for key in self.strays]
        out += [f"unaccounted but younger than the grace: {key}" for key in self.young]
        out += [f"missing blob of {ref.table} row {ref.row_id}: {ref.key}" for ref in self.missing]
        out += [
            f"{what} mismatch of {ref.table} row {ref.row_id}: {ref.key}"
            for ref, what in self.mismatched
        ]
        if self.lapsed_swept:
            out.append(f"swept {self.lapsed_swept} blobs whose lease had lapsed")
        if self.repaired:
            out.append(f"removed {self.repaired} orphan blobs and unfinished writes")
        out.append(
            "clean" if self.ok and not self.repaired else "repaired" if self.ok else "PROBLEMS"
        )
        return out


@dataclass(eq=False)
class Fsck:
    """Audits one blob store against one database."""

    blobs: BlobStore
    ledger: BlobLedger
    sweeper: Sweeper
    clock: Clock
    grace_seconds: float

    async def run(self, *, verify: bool = False, repair: bool = False) -> FsckReport:
        report = FsckReport()
        if repair:
            # Lapsed intents go the sweeper's way (claimed first), like any periodic sweep.
            swept = SweepReport()
            await self.sweeper.sweep_ledger(swept)
            report.lapsed_swept = swept.lapsed
        # The store first, then the rows: a blob published in between is never an orphan.
        stored = {key: mtime async for key, mtime in self.blobs.list_keys()}
        unfinished = {key: mtime async for key, mtime in self.blobs.list_temporaries()}
        # Intents before rows: an intent consumed in between shows up as its row.
        intents = {i.key: i for i in await self.ledger.all_intents()}
        refs = await self.ledger.blob_refs()
        report.blobs, report.rows = len(stored), len(refs)
        referenced = {ref.key for ref in refs}
        now = self.clock.time()
        live = {key for key, i in intents.items() if i.state == HELD and i.lease_until >= now}
        # Tombstoned files' keys: their bytes are garbage (a delete interrupted mid-way).
        for key, mtime in sorted(stored.items()):
            if key in referenced or key in live:
                continue
            if key in intents and intents[key].state == HELD:
                report.orphans.append(key)  # lapsed: the sweep's (or repair's) to take
            elif now - mtime < self.grace_seconds:
                report.young.append(key)
            else:
                report.orphans.append(key)
        for key, mtime in sorted(unfinished.items()):
            if key in live:
                continue
            if now - mtime < self.grace_seconds and key not in intents:
                report.young.append(key)
            else:
                report.strays.append(key)
        for ref in refs:
            if ref.key not in stored and not await self._exists(ref.key):
                report.missing.append(ref)
            elif verify:
                problem = await self._verify(ref)
                if problem:
                    report.mismatched.append((ref, problem))
        if repair:
            for key in [*report.orphans, *report.strays]:
                if key in await self.ledger.referenced([key]):
                    continue  # published since it was listed
                await self.blobs.discard(key)
                report.repaired += 1
        return report

    async def _exists(self, key: str) -> bool:
        try:
            await self.blobs.size(key)
        except BlobNotFound:
            return False
        return True

    async def _verify(self, ref: BlobRef) -> str:
        """'size' or 'sha256' when the stored bytes differ from the row, else ''."""
        digest = hashlib.sha256()
        size = 0
        try:
            async for chunk in self.blobs.read(ref.key):
                size += len(chunk)
                await anyio.to_thread.run_sync(digest.update, chunk)
        except BlobNotFound:
            return "size"
        if size != ref.bytes:
            return "size"
        # A composed Uploads file records a digest over its parts' digests (`<hex>-<n>`).
        if "-" not in ref.sha256 and ref.sha256 and digest.hexdigest() != ref.sha256:
            return "sha256"
        return ""
