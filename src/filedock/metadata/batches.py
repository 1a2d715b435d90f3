"""Rows of batches and of their requests (one row per input line), on the shared SQL layer.

Every state change of a request is one conditional UPDATE, so a result is recorded at most once:
a request is `pending`, `leased` to one server (owner + lease end), `done` (its output or error
line recorded) or `fenced` (its batch ended before it got a result). Only the lease owner may
record a result or give the request back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from filedock.metadata.batch_results import LineResult, record_results, token_values
from filedock.metadata.db import Database, Tx
from filedock.metadata.rows import RowLease, Rows
from filedock.metadata.table import Table
from filedock.models import BatchLine, BatchRecord, BatchUsage, ClaimedLine

__all__ = ["BatchCursorNotFound", "BatchRows", "Counts", "LineResult"]

BATCHES = Table("batches", BatchRecord)
LINES = Table("batch_requests", BatchLine)
ACTIVE = ("validating", "in_progress", "finalizing", "cancelling")
TOKEN_SUMS = (
    "SUM(input_tokens), SUM(cached_tokens), SUM(output_tokens), SUM(reasoning_tokens), "
    "SUM(total_tokens)"
)


class BatchCursorNotFound(LookupError):
    """The `after` id of a listing names no batch of the project."""


@dataclass(frozen=True)
class Counts:
    completed: int
    failed: int
    usage: BatchUsage | None


class BatchRows(Rows):
    """Rows of batches and their requests."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.lease = RowLease(db, "batches")  # validating or finalizing is one server's job

    # batches -------------------------------------------------------------------------------
    async def insert(self, record: BatchRecord) -> None:
        await self.db.execute(BATCHES.insert_sql, BATCHES.values(record))

    async def get(self, batch_id: str, project_id: str | None = None) -> BatchRecord | None:
        """The batch (of the project, when given), with live counts while it runs."""
        sql = f"SELECT {BATCHES.columns} FROM batches WHERE id = ?"
        params: list[object] = [batch_id]
        if project_id is not None:
            sql += " AND project_id = ?"
            params.append(project_id)
        row = await self.db.fetch_one(sql, params)
        return await self._live(BATCHES.row(row)) if row is not None else None

    async def list_page(
        self, project_id: str, *, limit: int, after: str | None
    ) -> tuple[list[BatchRecord], bool]:
        """Newest first (by the insertion sequence); raises BatchCursorNotFound."""
        where, params = "project_id = ?", [project_id]
        if after is not None:
            found = await self.db.fetch_one(
                "SELECT seq FROM batches WHERE id = ? AND project_id = ?", (after, project_id)
            )
            if found is None:
                raise BatchCursorNotFound(after)
            where += " AND seq < ?"
            params.append(found[0])
        rows = await self.db.fetch_all(
            f"SELECT {BATCHES.columns} FROM batches WHERE {where} ORDER BY seq DESC LIMIT ?",
            [*params, limit + 1],
        )
        records = [await self._live(BATCHES.row(r)) for r in rows[:limit]]
        return records, len(rows) > limit

    async def _live(self, record: BatchRecord) -> BatchRecord:
        if record.status not in ("in_progress", "finalizing", "cancelling"):
            return record
        counts = await self.counts(record.id)
        usage = counts.usage or BatchUsage()
        return dataclasses.replace(
            record,
            completed=counts.completed,
            failed=counts.failed,
            input_tokens=usage.input_tokens if counts.usage else None,
            cached_tokens=usage.cached_tokens if counts.usage else None,
            output_tokens=usage.output_tokens if counts.usage else None,
            reasoning_tokens=usage.reasoning_tokens if counts.usage else None,
            total_tokens=usage.total_tokens if counts.usage else None,
        )

    async def counts(self, batch_id: str, tx: Tx | None = None) -> Counts:
        row = await (tx or self.db).fetch_one(
            "SELECT SUM(CASE WHEN outcome = 'completed' THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN outcome = 'failed' THEN 1 ELSE 0 END), {TOKEN_SUMS} "
            "FROM batch_requests WHERE batch_id = ? AND state = 'done'",
            (batch_id,),
        )
        assert row is not None
        usage = None if row[6] is None else BatchUsage(*(int(v or 0) for v in row[2:7]))
        return Counts(int(row[0] or 0), int(row[1] or 0), usage)

    async def active(self) -> list[BatchRecord]:
        """Every batch not yet ended, oldest first (stored counts, not live ones)."""
        marks = ", ".join("?" for _ in ACTIVE)
        rows = await self.db.fetch_all(
            f"SELECT {BATCHES.columns} FROM batches WHERE status IN ({marks}) ORDER BY seq",
            list(ACTIVE),
        )
        return [BATCHES.row(r) for r in rows]

    async def set_status(
        self, batch_id: str, status: str, expected: Sequence[str], **fields: object
    ) -> bool:
        """Move a batch to `status` (and set `fields`) if it is in one of `expected`."""
        sets = ", ".join(["status = ?", *(f"{k} = ?" for k in fields)])
        marks = ", ".join("?" for _ in expected)
        count = await self.db.execute(
            f"UPDATE batches SET {sets} WHERE id = ? AND status IN ({marks})",
            [status, *fields.values(), batch_id, *expected],
        )
        return count == 1

    async def start(
        self,
        batch_id: str,
        owner: str,
        lines: int,
        model: str | None,
        engine: str,
        blob_key: str,
        now: int,
    ) -> bool:
        """validating -> in_progress once every request row is stored (the lease holder only)."""
        count = await self.db.execute(
            "UPDATE batches SET status = 'in_progress', in_progress_at = ?, total = ?, "
            "model = ?, engine = ?, input_blob_key = ?, lease_owner = NULL, lease_until = NULL "
            "WHERE id = ? AND status = 'validating' AND lease_owner = ?",
            (now, lines, model, engine, blob_key, batch_id, owner),
        )
        return count == 1

    async def reserve_files(self, batch_id: str, output_id: str, error_id: str) -> tuple[str, str]:
        """The ids the output and error files get (chosen once; a retry gets the same)."""
        await self.db.execute(
            "UPDATE batches SET output_file_reserved = COALESCE(output_file_reserved, ?), "
            "error_file_reserved = COALESCE(error_file_reserved, ?) WHERE id = ?",
            (output_id, error_id, batch_id),
        )
        row = await self.db.fetch_one(
            "SELECT output_file_reserved, error_file_reserved FROM batches WHERE id = ?",
            (batch_id,),
        )
        assert row is not None
        return row[0], row[1]

    # requests ------------------------------------------------------------------------------
    async def insert_lines(self, lines: Sequence[BatchLine]) -> None:
        """Store request rows (pending); re-inserting a row after a crash is a no-op.

        One transaction: on SQLite an executemany outside one commits (and syncs) every row."""
        async with self.db.transaction() as tx:
            await tx.execute_many(
                f"INSERT INTO batch_requests ({LINES.columns}, state) "
                "VALUES (?, ?, ?, ?, ?, 'pending') ON CONFLICT (batch_id, line) DO NOTHING",
                [LINES.values(line) for line in lines],
            )

    async def delete_lines(self, batch_id: str, limit: int = 5000) -> int:
        """Remove up to `limit` request rows of an ended batch; returns how many."""
        return await self.db.execute(
            "DELETE FROM batch_requests WHERE batch_id = ? AND line IN "
            "(SELECT line FROM batch_requests WHERE batch_id = ? LIMIT ?)",
            (batch_id, batch_id, limit),
        )

    async def ended_with_lines(self, limit: int = 100) -> list[str]:
        """Ended batches that still have request rows (a crash hit between the end and their
        removal)."""
        rows = await self.db.fetch_all(
            "SELECT id FROM batches WHERE status IN "
            "('completed', 'failed', 'expired', 'cancelled') "
            "AND EXISTS (SELECT 1 FROM batch_requests WHERE batch_id = batches.id) LIMIT ?",
            (limit,),
        )
        return [r[0] for r in rows]

    async def claim_lines(
        self, batch_id: str, owner: str, now: int, lease_until: int, now_ms: int, limit: int
    ) -> list[ClaimedLine]:
        """Lease up to `limit` pending requests (lowest lines first) of a batch that may run."""
        # The pick is a MATERIALIZED CTE (evaluated once): as a subquery PostgreSQL may re-run
        # it per updated row, and SKIP LOCKED then skips the rows this statement just updated.
        rows = await self.db.fetch_all(
            "WITH pick AS MATERIALIZED (SELECT line AS picked FROM batch_requests "
            "WHERE batch_id = ? AND state = 'pending' AND not_before_ms <= ? "
            f"ORDER BY line LIMIT ?{self.db.skip_locked}) "
            "UPDATE batch_requests SET state = 'leased', lease_owner = ?, lease_until = ?, "
            "attempts = attempts + 1 FROM pick "
            "WHERE batch_requests.batch_id = ? AND batch_requests.line = pick.picked "
            "AND batch_requests.state = 'pending' "
            "AND EXISTS (SELECT 1 FROM batches WHERE id = ? AND status = 'in_progress' "
            "AND expires_at > ?) "
            "RETURNING line, custom_id, byte_offset, byte_length, attempts",
            (batch_id, now_ms, limit, owner, lease_until, batch_id, batch_id, now),
        )
        lines = [
            ClaimedLine(batch_id, int(r[0]), r[1], int(r[2]), int(r[3]), int(r[4])) for r in rows
        ]
        return sorted(lines, key=lambda c: c.line)

    async def next_due_ms(self, batch_ids: Sequence[str]) -> int | None:
        """When the first request waiting for a retry is due (None: none is waiting)."""
        if not batch_ids:
            return None
        marks = ", ".join("?" for _ in batch_ids)
        row = await self.db.fetch_one(
            "SELECT MIN(not_before_ms) FROM batch_requests "
            f"WHERE batch_id IN ({marks}) AND state = 'pending'",
            list(batch_ids),
        )
        return int(row[0]) if row and row[0] is not None else None

    async def renew_lines(self, batch_id: str, owner: str, lease_until: int) -> int:
        return await self.db.execute(
            "UPDATE batch_requests SET lease_until = ? "
            "WHERE batch_id = ? AND state = 'leased' AND lease_owner = ?",
            (lease_until, batch_id, owner),
        )

    async def recover_lines(self, batch_id: str, now: int) -> int:
        """Give back requests whose lease ran out (their server crashed or stalled)."""
        return await self.db.execute(
            "UPDATE batch_requests SET state = 'pending', lease_owner = NULL, lease_until = NULL "
            "WHERE batch_id = ? AND state = 'leased' AND lease_until < ?",
            (batch_id, now),
        )

    async def release_lines(self, owner: str) -> int:
        """Give back every request `owner` still leases (a stopping server): the next server
        takes them at once instead of waiting for the leases to lapse."""
        return await self.db.execute(
            "UPDATE batch_requests SET state = 'pending', lease_owner = NULL, lease_until = NULL "
            "WHERE state = 'leased' AND lease_owner = ?",
            (owner,),
        )

    async def record(self, results: Sequence[LineResult]) -> list[bool]:
        """Record outcomes (or give requests back) in one transaction; True where it counted."""
        return await record_results(self.db, results)

    async def unfinished(self, batch_id: str, now: int) -> tuple[int, int]:
        """(requests not done, of which leased with a live lease)."""
        row = await self.db.fetch_one(
            "SELECT COUNT(*), SUM(CASE WHEN state = 'leased' AND lease_until >= ? THEN 1 ELSE 0 "
            "END) FROM batch_requests WHERE batch_id = ? AND state IN ('pending', 'leased')",
            (now, batch_id),
        )
        assert row is not None
        return int(row[0] or 0), int(row[1] or 0)

    async def finish_running(self, batch_id: str, now: int) -> bool:
        """in_progress -> finalizing when every request has its result."""
        count = await self.db.execute(
            "UPDATE batches SET status = 'finalizing', finalizing_at = ? "
            "WHERE id = ? AND status = 'in_progress' AND NOT EXISTS (SELECT 1 FROM "
            "batch_requests WHERE batch_id = ? AND state IN ('pending', 'leased'))",
            (now, batch_id, batch_id),
        )
        return count == 1

    async def fence(self, batch_id: str) -> int:
        """The batch ends: no request without a result may get one any more."""
        return await self.db.execute(
            "UPDATE batch_requests SET state = 'fenced', lease_owner = NULL, lease_until = NULL "
            "WHERE batch_id = ? AND state IN ('pending', 'leased')",
            (batch_id,),
        )

    async def page(
        self, batch_id: str, after_line: int, limit: int, *, completed: bool | None = None
    ) -> list[tuple[int, str, str, str | None, str | None, int]]:
        """(line, custom_id, state, outcome, result, attempts) in line order after `after_line`:
        every request, or (`completed` True) only those completed, or (False) all the others
        (the database skips the rows a file does not take, not the caller)."""
        where = ""
        if completed is True:
            where = " AND state = 'done' AND outcome = 'completed'"
        elif completed is False:
            where = " AND (state <> 'done' OR outcome IS NULL OR outcome <> 'completed')"
        rows = await self.db.fetch_all(
            "SELECT line, custom_id, state, outcome, result, attempts FROM batch_requests "
            f"WHERE batch_id = ? AND line > ?{where} ORDER BY line LIMIT ?",
            (batch_id, after_line, limit),
        )
        return [(int(r[0]), r[1], r[2], r[3], r[4], int(r[5])) for r in rows]

    async def end(
        self,
        batch_id: str,
        owner: str,
        status: str,
        stamp: str,
        now: int,
        *,
        output_file_id: str | None,
        error_file_id: str | None,
        failed: int,
        event: tuple[str, str, str] | None,
        errors: str | None = None,
    ) -> bool:
        """Freeze counts and usage, set the final status and, in the same transaction, write
        the webhook event (id, type, body) to the outbox. The lease holder only, once."""
        async with self.db.transaction() as tx:
            counts = await self.counts(batch_id, tx)
            tokens = token_values(counts.usage)
            count = await tx.execute(
                f"UPDATE batches SET status = ?, {stamp} = ?, output_file_id = ?, "
                "error_file_id = ?, completed = ?, failed = ?, input_tokens = ?, "
                "cached_tokens = ?, output_tokens = ?, reasoning_tokens = ?, total_tokens = ?, "
                "errors = COALESCE(?, errors), lease_owner = NULL, lease_until = NULL "
                "WHERE id = ? AND lease_owner = ? "
                "AND status IN ('in_progress', 'finalizing', 'cancelling', 'validating')",
                (
                    status,
                    now,
                    output_file_id,
                    error_file_id,
                    counts.completed,
                    failed,
                    *tokens,
                    errors,
                    batch_id,
                    owner,
                ),
            )
            if count != 1:
                return False
            if event is not None:
                await tx.execute(
                    "INSERT INTO webhook_events (id, type, batch_id, created_at, body) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (event[0], event[1], batch_id, now, event[2]),
                )
            return True
