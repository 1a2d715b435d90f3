"""The batch rows' contract on SQLite and PostgreSQL (real): leases make every result count once."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from filedock.metadata import migrate
from filedock.metadata.batches import BatchRows, LineResult
from filedock.metadata.db import Database
from filedock.metadata.engine_slots import EngineSlotRows
from filedock.metadata.factory import database_for_url
from filedock.models import BatchLine, BatchRecord, BatchUsage

pytestmark = pytest.mark.anyio

NOW = 1_700_000_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(
    params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.sqlite3'}"
    database: str = request.getfixturevalue("postgres_server").database()
    return database


@pytest.fixture
async def db(url: str) -> AsyncIterator[Database]:
    await anyio.to_thread.run_sync(migrate.upgrade, url)
    database = database_for_url(url)
    await database.open()
    try:
        yield database
    finally:
        await database.close()


def batch(batch_id: str = "batch_1", status: str = "in_progress") -> BatchRecord:
    names = [f.name for f in dataclasses.fields(BatchRecord)]
    values: dict[str, object] = dict.fromkeys(names)
    values.update(
        id=batch_id,
        project_id="proj_default",
        endpoint="/v1/chat/completions",
        input_file_id="file-x",
        completion_window="24h",
        status=status,
        created_at=NOW,
        expires_at=NOW + 86400,
        total=0,
        completed=0,
        failed=0,
    )
    return BatchRecord(**values)  # type: ignore[arg-type]


async def stored(db: Database, lines: int = 10) -> BatchRows:
    rows = BatchRows(db)
    await rows.insert(batch())
    await rows.insert_lines(
        [BatchLine("batch_1", n, f"c{n}", n * 100, 90) for n in range(1, lines + 1)]
    )
    return rows


def done(line: int, owner: str) -> LineResult:
    return LineResult(
        "batch_1", line, owner, "completed", f'{{"line":{line}}}', BatchUsage(1, 0, 2, 0, 3)
    )


async def test_claims_hand_each_request_to_one_server(db: Database) -> None:
    rows = await stored(db)
    a = await rows.claim_lines("batch_1", "a", NOW, NOW + 60, NOW * 1000, 4)
    b = await rows.claim_lines("batch_1", "b", NOW, NOW + 60, NOW * 1000, 100)
    assert [c.line for c in a] == [1, 2, 3, 4]
    assert [c.line for c in b] == [5, 6, 7, 8, 9, 10]
    assert {c.attempts for c in a + b} == {1}
    assert a[0].custom_id == "c1" and (a[0].byte_offset, a[0].byte_length) == (100, 90)
    assert await rows.claim_lines("batch_1", "c", NOW, NOW + 60, NOW * 1000, 5) == []


async def test_a_result_counts_once_and_only_for_the_lease_holder(db: Database) -> None:
    rows = await stored(db)
    await rows.claim_lines("batch_1", "a", NOW, NOW + 60, NOW * 1000, 2)
    assert await rows.record([done(1, "b")]) == [False]  # not b's lease
    assert await rows.record([done(1, "a"), done(2, "a"), done(1, "a")]) == [True, True, False]
    assert await rows.record([done(1, "a")]) == [False]  # already recorded
    counts = await rows.counts("batch_1")
    assert (counts.completed, counts.failed) == (2, 0)
    assert counts.usage == BatchUsage(2, 0, 4, 0, 6)


async def test_an_expired_lease_is_taken_over_and_the_old_holder_cannot_record(
    db: Database,
) -> None:
    rows = await stored(db, lines=3)
    await rows.claim_lines("batch_1", "a", NOW, NOW + 60, NOW * 1000, 3)
    assert await rows.recover_lines("batch_1", NOW + 30) == 0  # still live
    assert await rows.renew_lines("batch_1", "a", NOW + 120) == 3
    assert await rows.recover_lines("batch_1", NOW + 121) == 3  # a crashed
    again = await rows.claim_lines("batch_1", "b", NOW + 121, NOW + 181, NOW * 1000, 3)
    assert [c.attempts for c in again] == [2, 2, 2]
    assert await rows.record([done(1, "a")]) == [False]
    assert await rows.record([done(1, "b")]) == [True]


async def test_a_retry_waits_and_a_fence_ends_recording(db: Database) -> None:
    rows = await stored(db, lines=2)
    await rows.claim_lines("batch_1", "a", NOW, NOW + 60, NOW * 1000, 2)
    back = LineResult("batch_1", 1, "a", None, not_before_ms=NOW * 1000 + 5000)
    assert await rows.record([back]) == [True]
    assert await rows.claim_lines("batch_1", "a", NOW, NOW + 60, NOW * 1000, 5) == []
    assert await rows.next_due_ms(["batch_1"]) == NOW * 1000 + 5000
    later = await rows.claim_lines("batch_1", "a", NOW, NOW + 60, NOW * 1000 + 5000, 5)
    assert [c.line for c in later] == [1]
    assert await rows.fence("batch_1") == 2
    assert await rows.record([done(1, "a"), done(2, "a")]) == [False, False]
    assert await rows.unfinished("batch_1", NOW) == (0, 0)


async def test_one_group_mixes_outcomes_retries_and_unsent_requests(db: Database) -> None:
    """A group is one statement: each kind of result gets its own changes (and a group whose
    results carry no usage at all stores NULL counts, which PostgreSQL must type)."""
    rows = await stored(db, lines=5)
    await rows.claim_lines("batch_1", "a", NOW, NOW + 60, NOW * 1000, 5)
    failed = LineResult("batch_1", 2, "a", "failed", '{"line":2}')
    retry = LineResult("batch_1", 3, "a", None, not_before_ms=NOW * 1000 + 7000)
    unsent = LineResult("batch_1", 4, "a", None, sent=False)
    foreign = LineResult("batch_1", 5, "b", "failed", '{"line":5}')
    assert await rows.record([failed, retry, unsent, foreign]) == [True, True, True, False]
    assert await rows.record([done(1, "a")]) == [True]
    page = {
        line: (state, outcome, result, attempts)
        for line, _, state, outcome, result, attempts in await rows.page("batch_1", 0, 10)
    }
    assert page == {
        1: ("done", "completed", '{"line":1}', 1),
        2: ("done", "failed", '{"line":2}', 1),
        3: ("pending", None, None, 1),  # sent once: the attempt counts
        4: ("pending", None, None, 0),  # given back unsent: it does not
        5: ("leased", None, None, 1),
    }
    # The output file's rows (completed) and the error file's (every other), after line 1.
    assert [r[0] for r in await rows.page("batch_1", 0, 10, completed=True)] == [1]
    assert [r[0] for r in await rows.page("batch_1", 1, 10, completed=True)] == []
    assert [r[0] for r in await rows.page("batch_1", 1, 10, completed=False)] == [2, 3, 4, 5]
    assert [r[0] for r in await rows.page("batch_1", 0, 2, completed=False)] == [2, 3]
    assert await rows.next_due_ms(["batch_1"]) == 0  # line 4 may go at once, line 3 later
    again = await rows.claim_lines("batch_1", "a", NOW, NOW + 60, NOW * 1000, 5)
    assert [c.line for c in again] == [4]
    counts = await rows.counts("batch_1")
    assert (counts.completed, counts.failed, counts.usage) == (1, 1, BatchUsage(1, 0, 2, 0, 3))


async def test_requests_of_a_batch_that_may_not_run_are_not_claimed(db: Database) -> None:
    rows = await stored(db, lines=2)
    assert await rows.set_status("batch_1", "cancelling", ("in_progress",), cancelling_at=NOW)
    assert await rows.claim_lines("batch_1", "a", NOW, NOW + 60, NOW * 1000, 5) == []
    rows2 = BatchRows(db)
    await rows2.insert(batch("batch_2"))
    await rows2.insert_lines([BatchLine("batch_2", 1, "x", 0, 10)])
    expired = NOW + 86400
    assert await rows2.claim_lines("batch_2", "a", expired, expired + 60, 0, 5) == []


async def test_finish_running_waits_for_every_request(db: Database) -> None:
    rows = await stored(db, lines=2)
    await rows.claim_lines("batch_1", "a", NOW, NOW + 60, NOW * 1000, 2)
    await rows.record([done(1, "a")])
    assert not await rows.finish_running("batch_1", NOW)
    await rows.record([done(2, "a")])
    assert await rows.finish_running("batch_1", NOW)
    assert (await rows.get("batch_1")).status == "finalizing"  # type: ignore[union-attr]


async def test_engine_slots_cap_all_servers_together(db: Database) -> None:
    slots = EngineSlotRows(db)
    await slots.ensure("e", 3)
    await slots.ensure("e", 3)
    assert await slots.acquire("e", "a", 3, 2, NOW, NOW + 60) == [0, 1]
    assert await slots.acquire("e", "b", 3, 5, NOW, NOW + 60) == [2]
    assert await slots.acquire("e", "c", 3, 1, NOW, NOW + 60) == []
    assert await slots.held("e", NOW) == 3
    await slots.release("e", "a", [1])
    assert await slots.acquire("e", "c", 3, 1, NOW, NOW + 60) == [1]
    assert await slots.renew("e", "b", NOW + 120) == {2}
    # a's lease runs out: its slot comes free; b's renewed one does not
    assert await slots.acquire("e", "d", 3, 3, NOW + 61, NOW + 121) == [0, 1]
    assert await slots.renew("e", "a", NOW + 200) == set()


async def test_listing_is_newest_first_and_ending_freezes_counts(db: Database) -> None:
    rows = await stored(db, lines=2)
    for n in range(2, 6):
        await rows.insert(batch(f"batch_{n}", status="completed"))
    page, more = await rows.list_page("proj_default", limit=3, after=None)
    assert [b.id for b in page] == ["batch_5", "batch_4", "batch_3"] and more
    page, more = await rows.list_page("proj_default", limit=3, after="batch_3")
    assert [b.id for b in page] == ["batch_2", "batch_1"] and not more
    await rows.claim_lines("batch_1", "a", NOW, NOW + 60, NOW * 1000, 2)
    await rows.record([done(1, "a")])
    live = await rows.get("batch_1")
    assert live is not None and (live.completed, live.total_tokens) == (1, 3)
    assert await rows.lease.claim("batch_1", "lead", NOW, NOW + 60)
    assert not await rows.lease.claim("batch_1", "other", NOW, NOW + 60)
    event = ("evt_1", "batch.completed", "{}")
    assert await rows.end(
        "batch_1",
        "lead",
        "cancelled",
        "cancelled_at",
        NOW,
        output_file_id="file-o",
        error_file_id=None,
        failed=1,
        event=event,
    )
    assert not await rows.end(
        "batch_1",
        "lead",
        "cancelled",
        "cancelled_at",
        NOW,
        output_file_id=None,
        error_file_id=None,
        failed=0,
        event=None,
    )
    ended = await rows.get("batch_1")
    assert ended is not None and ended.status == "cancelled"
    assert (ended.completed, ended.failed, ended.total_tokens) == (1, 1, 3)
    assert await db.fetch_all("SELECT id, type FROM webhook_events") == [
        ("evt_1", "batch.completed")
    ]
