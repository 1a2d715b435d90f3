"""SQLite's statement lanes: batches, failures, cancellation, shutdown and durability."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from filedock.errors import MetadataError
from filedock.metadata.db_sqlite import SqliteDatabase
from filedock.metadata.sqlite_lanes import Lane

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _memory() -> sqlite3.Connection:
    return sqlite3.connect(":memory:", check_same_thread=False)


def _lane(threads: int = 1) -> Lane:
    return Lane("test-lane", threads, _memory, lambda exc: MetadataError(str(exc)))


def _block(lane: Lane) -> tuple[threading.Event, threading.Event]:
    """Park the lane's thread in a statement until the returned `release` is set."""
    entered, release = threading.Event(), threading.Event()

    def wait(_conn: sqlite3.Connection) -> None:
        entered.set()
        release.wait()

    lane.submit(wait)
    assert entered.wait(10)
    return entered, release


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[SqliteDatabase]:
    db = SqliteDatabase(f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    await db.open()
    await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    try:
        yield db
    finally:
        await db.close()


async def test_a_batch_runs_in_order_and_one_failure_poisons_nothing() -> None:
    lane = _lane()
    _, release = _block(lane)
    # Queued while the thread is busy: the thread takes them as one batch.
    jobs = [lane.submit(lambda c, i=i: c.execute("SELECT ?", (i,)).fetchone()[0]) for i in range(5)]
    bad = lane.submit(lambda c: c.execute("SELECT * FROM missing").fetchall())
    typo = lane.submit(lambda c: c.execute("SELECT ?", ()).fetchone())  # wrong parameter count
    after = lane.submit(lambda c: c.execute("SELECT 'after'").fetchone())
    release.set()
    assert [await job.result() for job in jobs] == [0, 1, 2, 3, 4]
    with pytest.raises(MetadataError, match="no such table"):
        await bad.result()
    with pytest.raises(MetadataError):
        await typo.result()
    assert await after.result() == ("after",)
    for thread in lane.stop():
        thread.join(10)
        assert not thread.is_alive()


async def test_a_cancelled_caller_waits_until_its_statement_has_run() -> None:
    lane = _lane()
    _, release = _block(lane)
    ran = threading.Event()
    job = lane.submit(lambda _c: ran.set())
    waiting = asyncio.create_task(job.result())
    await asyncio.sleep(0)  # let the task start awaiting
    waiting.cancel()
    for _ in range(5):  # without the wait, the cancelled task ends at the first of these
        await asyncio.sleep(0)
    assert not waiting.done() and not ran.is_set()  # waiting for the statement, not yet run
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert ran.is_set()
    for thread in lane.stop():
        thread.join(10)


async def test_a_slow_statement_holds_up_only_its_own_thread() -> None:
    lane = _lane(threads=2)
    _, release = _block(lane)  # one thread is busy with a "slow" statement
    try:
        async with asyncio.timeout(10):
            for i in range(20):  # the other thread runs these meanwhile
                job = lane.submit(lambda c, i=i: c.execute("SELECT ?", (i,)).fetchone())
                assert await job.result() == (i,)
    finally:
        release.set()
    for thread in lane.stop():
        thread.join(10)


async def test_a_stopped_lane_refuses_statements() -> None:
    lane = _lane(threads=2)
    assert await lane.submit(lambda c: c.execute("SELECT 1").fetchone()).result() == (1,)
    threads = lane.stop()
    assert len(threads) == 2
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()
    with pytest.raises(MetadataError, match="closed"):
        lane.submit(lambda c: None)


async def test_reads_go_on_while_a_transaction_holds_the_writer(db: SqliteDatabase) -> None:
    await db.execute("INSERT INTO t (id, v) VALUES (1, 'old')")
    async with db.transaction() as tx:
        await tx.execute("UPDATE t SET v = 'new' WHERE id = 1")
        assert await tx.fetch_one("SELECT v FROM t WHERE id = 1") == ("new",)
        # An autocommit read is not queued behind the open transaction and sees the last commit.
        async with asyncio.timeout(10):
            assert await db.fetch_one("SELECT v FROM t WHERE id = 1") == ("old",)
    assert await db.fetch_one("SELECT v FROM t WHERE id = 1") == ("new",)


async def test_concurrent_transactions_and_writes_keep_every_row(db: SqliteDatabase) -> None:
    async def in_tx(i: int) -> None:
        async with db.transaction() as tx:
            (count,) = await tx.fetch_one("SELECT COUNT(*) FROM t") or (0,)
            await tx.execute("INSERT INTO t (id, v) VALUES (?, ?)", (i, f"tx{count}"))

    async def autocommit(i: int) -> None:
        await db.execute("INSERT INTO t (id, v) VALUES (?, 'auto')", (i,))

    async def failing() -> None:
        with pytest.raises(MetadataError):
            async with db.transaction() as tx:
                await tx.execute("INSERT INTO t (id, v) VALUES (?, 'never')", (10_000,))
                await tx.execute("INSERT INTO nowhere VALUES (1)")

    await asyncio.gather(
        *(in_tx(i) if i % 2 else autocommit(i) for i in range(60)), failing(), failing()
    )
    rows = await db.fetch_all("SELECT id, v FROM t ORDER BY id")
    assert [r[0] for r in rows] == list(range(60))
    # Each transaction saw the rows committed before it: the counts it read are all different.
    seen = [r[1] for r in rows if r[1].startswith("tx")]
    assert len(set(seen)) == len(seen) == 30


async def test_close_runs_what_was_queued_then_ends_the_threads(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'meta.sqlite3'}"
    db = SqliteDatabase(url)
    await db.open()
    await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    assert await db.fetch_one("SELECT COUNT(*) FROM t") == (0,)
    mine = {t for t in threading.enumerate() if t.name.startswith("sqlite-")}
    assert mine
    pending = asyncio.create_task(db.execute("INSERT INTO t (id) VALUES (1)"))
    await asyncio.sleep(0)  # queued before close()
    await db.close()
    async with asyncio.timeout(10):
        assert await pending == 1
    assert not any(t.is_alive() for t in mine & set(threading.enumerate()))
    # A closed database opens its connections again on the next statement.
    assert await db.fetch_one("SELECT COUNT(*) FROM t") == (1,)
    await db.close()


async def test_a_database_dropped_without_close_ends_its_threads(tmp_path: Path) -> None:
    db = SqliteDatabase(f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    before = set(threading.enumerate())
    assert await db.fetch_one("SELECT 1") == (1,)
    await db.execute("CREATE TABLE t (id INTEGER)")
    started = set(threading.enumerate()) - before
    assert started
    del db
    gc.collect()
    for thread in started:
        thread.join(10)
        assert not thread.is_alive()


async def test_every_connection_syncs_commits_and_acknowledged_rows_are_on_disk(
    db: SqliteDatabase,
) -> None:
    """synchronous=FULL (docs/deploy.md: acknowledged rows survive power loss) on the writer's
    and the readers' connections; a row is committed once its statement returns."""
    assert await db.fetch_one("PRAGMA synchronous") == (2,)  # writer lane
    assert await db.fetch_one("SELECT * FROM pragma_synchronous") == (2,)  # reader lane
    assert await db.fetch_one("SELECT * FROM pragma_journal_mode") == ("wal",)
    await db.execute("INSERT INTO t (id, v) VALUES (1, 'x')")
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO t (id, v) VALUES (2, 'y')")
    other = sqlite3.connect(db.path)
    try:
        assert other.execute("SELECT id FROM t ORDER BY id").fetchall() == [(1,), (2,)]
    finally:
        other.close()
