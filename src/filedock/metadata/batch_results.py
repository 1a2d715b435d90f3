"""Recording the outcomes of batch requests: a result counts only while its server holds the
request's lease, so each request's result is recorded at most once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from filedock.metadata.db import Database
from filedock.models import BatchUsage


@dataclass(frozen=True)
class LineResult:
    """What a server records for a request it holds: its final outcome, or a retry."""

    batch_id: str
    line: int
    owner: str
    outcome: str | None  # completed, failed; None = give back for a retry
    result: str | None = None  # the output/error file line (JSON text)
    usage: BatchUsage | None = None
    not_before_ms: int = 0  # retries: not sent again before this time
    sent: bool = True  # False: given back unsent (its claim does not count as an attempt)


def token_values(u: BatchUsage | None) -> tuple[int | None, ...]:
    if u is None:
        return (None,) * 5
    return (u.input_tokens, u.cached_tokens, u.output_tokens, u.reasoning_tokens, u.total_tokens)


async def record_results(db: Database, results: Sequence[LineResult]) -> list[bool]:
    """Record outcomes (or give requests back) in one transaction; True where it counted.

    A result counts only while its server still holds the request's lease: a request
    whose lease ran out and was taken over, or that was fenced, is not recorded twice.
    The leases are checked (and on PostgreSQL the rows locked) first, then every update
    runs as one statement per kind, so a group costs a few statements, not one per result.
    """
    by_lease: dict[tuple[str, str], list[int]] = {}
    for r in results:
        by_lease.setdefault((r.batch_id, r.owner), []).append(r.line)
    async with db.transaction() as tx:
        held: set[tuple[str, int]] = set()
        for (batch_id, owner), lines in by_lease.items():
            for at in range(0, len(lines), 500):
                part = lines[at : at + 500]
                marks = ", ".join("?" for _ in part)
                rows = await tx.fetch_all(
                    "SELECT line FROM batch_requests WHERE batch_id = ? AND state = 'leased' "
                    f"AND lease_owner = ? AND line IN ({marks}){db.for_update}",
                    [batch_id, owner, *part],
                )
                held.update((batch_id, int(row[0])) for row in rows)
        counted: list[bool] = []
        backs: list[tuple[object, ...]] = []
        dones: list[tuple[object, ...]] = []
        for r in results:
            key = (r.batch_id, r.line)
            counted.append(key in held)
            if key not in held:
                continue
            held.discard(key)  # a second result for the same request does not count
            if r.outcome is None:
                backs.append((r.not_before_ms, 0 if r.sent else 1, r.batch_id, r.line, r.owner))
            else:
                dones.append(
                    (r.outcome, r.result, *token_values(r.usage), r.batch_id, r.line, r.owner)
                )
        if backs:
            await tx.execute_many(
                "UPDATE batch_requests SET state = 'pending', not_before_ms = ?, "
                "attempts = attempts - ?, lease_owner = NULL, lease_until = NULL "
                "WHERE batch_id = ? AND line = ? AND state = 'leased' AND lease_owner = ?",
                backs,
            )
        if dones:
            await tx.execute_many(
                "UPDATE batch_requests SET state = 'done', outcome = ?, result = ?, "
                "input_tokens = ?, cached_tokens = ?, output_tokens = ?, "
                "reasoning_tokens = ?, total_tokens = ?, lease_owner = NULL, "
                "lease_until = NULL WHERE batch_id = ? AND line = ? "
                "AND state = 'leased' AND lease_owner = ?",
                dones,
            )
    return counted
