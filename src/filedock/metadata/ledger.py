"""The blob ledger's rows: an intent (key, kind, owner, lease) for every blob not yet published.

An intent is `held` by a server process while it writes, validates or composes the blob; the row
that publishes the blob (files, upload_parts) consumes it in the same statement (a trigger, see
migration 0005). A sweeper claims intents whose lease lapsed (`claimed`), deletes their bytes and
marks them `swept`; swept intents are kept for a while so a row for their key can never be
inserted late, then purged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from filedock.metadata.db import Database
from filedock.metadata.table import Table

HELD = "held"
CLAIMED = "claimed"
SWEPT = "swept"
# Keys per statement (IN lists): well under SQLite's variable limit.
CHUNK = 500


@dataclass(frozen=True)
class Intent:
    """A blob that may exist without a row referring to it (yet)."""

    key: str
    kind: str
    owner: str
    state: str
    lease_until: int
    created_at: int


@dataclass(frozen=True)
class BlobRef:
    """What a row says its blob is: for fsck to compare with the store."""

    key: str
    table: str  # files | upload_parts
    row_id: str
    bytes: int
    sha256: str


INTENTS = Table("blob_intents", Intent)


def _chunks(keys: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(keys), CHUNK):
        yield keys[start : start + CHUNK]


def _marks(keys: Sequence[str]) -> str:
    return ", ".join("?" for _ in keys)


class BlobLedger:
    """Rows of blob_intents, plus the reference checks the sweeper and fsck need."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, key: str, kind: str, owner: str, lease_until: int, now: int) -> None:
        """Record the intent before the blob's first byte (keys are new: never a conflict)."""
        await self.db.execute(
            INTENTS.insert_sql, INTENTS.values(Intent(key, kind, owner, HELD, lease_until, now))
        )

    async def renew(self, owner: str, keys: Sequence[str], lease_until: int) -> set[str]:
        """Extend `owner`'s held leases on `keys`; returns the keys still held (the rest are lost:
        a sweeper claimed them, or they were published or released)."""
        renewed: set[str] = set()
        for chunk in _chunks(list(keys)):
            rows = await self.db.fetch_all(
                f"UPDATE blob_intents SET lease_until = ? WHERE owner = ? AND state = '{HELD}' "
                f"AND key IN ({_marks(chunk)}) RETURNING key",
                (lease_until, owner, *chunk),
            )
            renewed.update(row[0] for row in rows)
        return renewed

    async def is_held(self, key: str, owner: str) -> bool:
        row = await self.db.fetch_one(
            f"SELECT 1 FROM blob_intents WHERE key = ? AND owner = ? AND state = '{HELD}'",
            (key, owner),
        )
        return row is not None

    async def release(self, key: str, owner: str) -> None:
        """Drop a held intent whose bytes are gone (an aborted write): nothing left to sweep."""
        await self.db.execute(
            f"DELETE FROM blob_intents WHERE key = ? AND owner = ? AND state = '{HELD}'",
            (key, owner),
        )

    async def get(self, key: str) -> Intent | None:
        row = await self.db.fetch_one(
            f"SELECT {INTENTS.columns} FROM blob_intents WHERE key = ?", (key,)
        )
        return INTENTS.row(row) if row is not None else None

    async def claim_lapsed(
        self, now: int, claimer: str, claim_until: int, limit: int
    ) -> list[Intent]:
        """Atomically claim up to `limit` intents whose lease ended before `now` (held ones, and
        claims of a sweeper that died), for `claimer` until `claim_until`. Each is handed to one
        claimant; a row that publishes a claimed key fails from then on."""
        async with self.db.transaction() as tx:
            rows = await tx.fetch_all(
                f"SELECT key FROM blob_intents WHERE state IN ('{HELD}', '{CLAIMED}') "
                f"AND lease_until < ? ORDER BY lease_until LIMIT ?{self.db.skip_locked}",
                (now, limit),
            )
            keys = [row[0] for row in rows]
            if not keys:
                return []
            claimed = await tx.fetch_all(
                f"UPDATE blob_intents SET state = '{CLAIMED}', owner = ?, lease_until = ? "
                f"WHERE key IN ({_marks(keys)}) RETURNING {INTENTS.columns}",
                (claimer, claim_until, *keys),
            )
        return [INTENTS.row(row) for row in claimed]

    async def mark_swept(self, keys: Sequence[str], claimer: str, keep_until: int) -> None:
        """The bytes of these claimed intents are gone; keep the marks until `keep_until`."""
        for chunk in _chunks(list(keys)):
            await self.db.execute(
                f"UPDATE blob_intents SET state = '{SWEPT}', lease_until = ? "
                f"WHERE owner = ? AND state = '{CLAIMED}' AND key IN ({_marks(chunk)})",
                (keep_until, claimer, *chunk),
            )

    async def drop(self, keys: Sequence[str]) -> None:
        """Remove intents outright (their key is referenced by a row: nothing to delete)."""
        for chunk in _chunks(list(keys)):
            await self.db.execute(
                f"DELETE FROM blob_intents WHERE key IN ({_marks(chunk)})", tuple(chunk)
            )

    async def purge_swept(self, before: int) -> int:
        """Forget swept marks kept past their time."""
        return await self.db.execute(
            f"DELETE FROM blob_intents WHERE state = '{SWEPT}' AND lease_until < ?", (before,)
        )

    async def intents(self, keys: Sequence[str]) -> dict[str, Intent]:
        found: dict[str, Intent] = {}
        for chunk in _chunks(list(keys)):
            rows = await self.db.fetch_all(
                f"SELECT {INTENTS.columns} FROM blob_intents WHERE key IN ({_marks(chunk)})",
                tuple(chunk),
            )
            found.update((row[0], INTENTS.row(row)) for row in rows)
        return found

    async def referenced(self, keys: Sequence[str]) -> set[str]:
        """Which of `keys` a file row (live or tombstoned) or an Uploads part row refers to."""
        found: set[str] = set()
        for chunk in _chunks(list(keys)):
            marks = _marks(chunk)
            rows = await self.db.fetch_all(
                f"SELECT blob_key FROM files WHERE blob_key IN ({marks}) "
                f"UNION SELECT blob_key FROM upload_parts WHERE blob_key IN ({marks})",
                (*chunk, *chunk),
            )
            found.update(row[0] for row in rows)
        return found

    async def all_intents(self) -> list[Intent]:
        """Every intent (fsck)."""
        rows = await self.db.fetch_all(f"SELECT {INTENTS.columns} FROM blob_intents")
        return [INTENTS.row(row) for row in rows]

    async def blob_refs(self) -> list[BlobRef]:
        """What every live row says its blob is (fsck): live files and Uploads parts."""
        rows = await self.db.fetch_all(
            "SELECT blob_key, 'files', id, bytes, sha256 FROM files WHERE deleted_at IS NULL "
            "UNION ALL SELECT blob_key, 'upload_parts', id, bytes, sha256 FROM upload_parts"
        )
        return [BlobRef(*row) for row in rows]
