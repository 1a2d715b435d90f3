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


# One row of the VALUES list below: (batch_id, line, owner, outcome, result, 5 token counts,
# not_before_ms, attempts given back). Typed, so PostgreSQL need not guess a column of NULLs.
_ROW = (
    "(CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), "
    + ", ".join(["CAST(? AS BIGINT)"] * 7)
    + ")"
)
# A result counts only where the request is still leased to its server: the lease check and the
# change are one conditional UPDATE (one statement, one commit for a whole group). A final
# outcome makes the request done; none gives it back (pending, not before not_before_ms).
_RECORD = (
    "UPDATE batch_requests SET "
    "state = CASE WHEN v.column4 IS NULL THEN 'pending' ELSE 'done' END, "
    "outcome = v.column4, result = v.column5, input_tokens = v.column6, "
    "cached_tokens = v.column7, output_tokens = v.column8, reasoning_tokens = v.column9, "
    "total_tokens = v.column10, "
    "not_before_ms = CASE WHEN v.column4 IS NULL THEN v.column11 ELSE not_before_ms END, "
    "attempts = attempts - v.column12, lease_owner = NULL, lease_until = NULL "
    "FROM (VALUES {rows}) AS v "
    "WHERE batch_requests.batch_id = v.column1 AND batch_requests.line = v.column2 "
    "AND batch_requests.state = 'leased' AND batch_requests.lease_owner = v.column3 "
    "RETURNING batch_requests.batch_id, batch_requests.line"
)
GROUP_ROWS = 500


async def record_results(db: Database, results: Sequence[LineResult]) -> list[bool]:
    """Record outcomes (or give requests back); True where it counted.

    A result counts only while its server still holds the request's lease: a request
    whose lease ran out and was taken over, or that was fenced, is not recorded twice (nor
    is a second result for the same request in one group). Each group of up to GROUP_ROWS
    results is one statement, committed on its own (a result is durable when this returns).
    """
    counted = [False] * len(results)
    first: dict[tuple[str, int], int] = {}
    for i, r in enumerate(results):
        first.setdefault((r.batch_id, r.line), i)
    todo = list(first.values())
    for at in range(0, len(todo), GROUP_ROWS):
        part = todo[at : at + GROUP_ROWS]
        params: list[object] = []
        for i in part:
            r = results[i]
            given_back = r.outcome is None and not r.sent
            params += (r.batch_id, r.line, r.owner, r.outcome, r.result, *token_values(r.usage))
            params += (r.not_before_ms, 1 if given_back else 0)
        rows = await db.fetch_all(_RECORD.format(rows=", ".join([_ROW] * len(part))), params)
        done = {(str(row[0]), int(row[1])) for row in rows}
        for i in part:
            r = results[i]
            counted[i] = (r.batch_id, r.line) in done
    return counted
