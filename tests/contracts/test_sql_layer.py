"""The shared SQL layer's contract, run unchanged on SQLite and PostgreSQL (real)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from filedock.errors import MetadataError
from filedock.metadata.db import Database, IntegrityConflict
from filedock.metadata.factory import database_for_url
from filedock.metadata.table import Table

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Thing:
    id: str
    name: str
    size: int
    note: str | None


THINGS = Table("things", Thing)


@pytest.fixture(
    params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sub' / 'meta.sqlite3'}"
    database: str = request.getfixturevalue("postgres_server").database()
    return database


async def _open(url: str) -> Database:
    db = database_for_url(url)
    await db.open()
    return db


@pytest.fixture
async def db(url: str) -> AsyncIterator[Database]:
    db = await _open(url)
    await db.execute(
        "CREATE TABLE things (id TEXT PRIMARY KEY, name TEXT NOT NULL, size BIGINT NOT NULL,"
        " note TEXT)"
    )
    try:
        yield db
    finally:
        await db.close()


def test_table_derives_columns_and_insert() -> None:
    assert THINGS.columns == "id, name, size, note"
    assert THINGS.insert_sql == "INSERT INTO things (id, name, size, note) VALUES (?, ?, ?, ?)"
    thing = Thing("a", "b", 3, None)
    assert THINGS.row(THINGS.values(thing)) == thing
    assert THINGS.qualified("t") == "t.id, t.name, t.size, t.note"


async def test_statements_round_trip(db: Database) -> None:
    await db.execute(THINGS.insert_sql, THINGS.values(Thing("t1", "100%", 5, None)))
    await db.execute_many(
        THINGS.insert_sql, [THINGS.values(Thing(f"t{i}", "n", i, "x")) for i in range(2, 5)]
    )
    row = await db.fetch_one(f"SELECT {THINGS.columns} FROM things WHERE name LIKE '100%'")
    assert row is not None and THINGS.row(row) == Thing("t1", "100%", 5, None)
    rows = await db.fetch_all(
        f"SELECT {THINGS.columns} FROM things WHERE size >= ? ORDER BY id", (3,)
    )
    assert [THINGS.row(r).id for r in rows] == ["t1", "t3", "t4"]
    assert await db.execute("UPDATE things SET note = ? WHERE size < ?", ("y", 4)) == 2
    assert await db.fetch_one("SELECT id FROM things WHERE id = ?", ("nope",)) is None
    returned = await db.fetch_one("DELETE FROM things WHERE id = ? RETURNING size", ("t4",))
    assert returned == (4,)


async def test_transaction_commits_or_rolls_back(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.execute(THINGS.insert_sql, THINGS.values(Thing("a", "n", 1, None)))
        assert await tx.fetch_one("SELECT size FROM things WHERE id = ?", ("a",)) == (1,)
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute(THINGS.insert_sql, THINGS.values(Thing("b", "n", 2, None)))
            raise RuntimeError("abandon")
    assert await db.fetch_all("SELECT id FROM things ORDER BY id") == [("a",)]


async def test_constraint_violation_is_a_conflict(db: Database) -> None:
    await db.execute(THINGS.insert_sql, THINGS.values(Thing("a", "n", 1, None)))
    with pytest.raises(IntegrityConflict):
        await db.execute(THINGS.insert_sql, THINGS.values(Thing("a", "n", 1, None)))
    with pytest.raises(MetadataError):
        await db.execute("SELECT * FROM no_such_table")
    # The connection that saw the errors is usable again.
    assert await db.fetch_one("SELECT COUNT(*) FROM things") == (1,)


async def test_concurrent_transactions_are_serialised_not_lost(db: Database, url: str) -> None:
    """Read-modify-write increments in transactions from two processes' pools lose nothing."""
    other = await _open(url)
    await db.execute(THINGS.insert_sql, THINGS.values(Thing("c", "counter", 0, None)))

    async def bump(on: Database) -> None:
        async with on.transaction() as tx:
            row = await tx.fetch_one("SELECT size FROM things WHERE id = ?" + on.for_update, ("c",))
            assert row is not None
            await tx.execute("UPDATE things SET size = ? WHERE id = ?", (row[0] + 1, "c"))

    try:
        await asyncio.gather(*(bump(db if i % 2 else other) for i in range(40)))
    finally:
        await other.close()
    assert await db.fetch_one("SELECT size FROM things WHERE id = ?", ("c",)) == (40,)


async def test_claims_pass_over_locked_rows(db: Database, url: str) -> None:
    """Two claimants each take rows the other has not locked; none is claimed twice."""
    await db.execute_many(
        THINGS.insert_sql, [THINGS.values(Thing(f"r{i}", "todo", i, None)) for i in range(20)]
    )
    other = await _open(url)
    claimed: list[str] = []

    async def claim(on: Database) -> None:
        while True:
            async with on.transaction() as tx:
                rows = await tx.fetch_all(
                    "SELECT id FROM things WHERE name = 'todo' ORDER BY id LIMIT 3" + on.skip_locked
                )
                if not rows:
                    return
                for (thing_id,) in rows:
                    await tx.execute("UPDATE things SET name = 'done' WHERE id = ?", (thing_id,))
                    claimed.append(thing_id)

    try:
        await asyncio.gather(claim(db), claim(other), claim(db), claim(other))
    finally:
        await other.close()
    assert sorted(claimed) == sorted(f"r{i}" for i in range(20))


async def test_cancelled_transaction_rolls_back_and_frees_the_writer(db: Database) -> None:
    started = asyncio.Event()

    async def hold() -> None:
        async with db.transaction() as tx:
            await tx.execute(THINGS.insert_sql, THINGS.values(Thing("x", "n", 1, None)))
            started.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(hold())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(10):
        await db.execute(THINGS.insert_sql, THINGS.values(Thing("y", "n", 2, None)))
    assert await db.fetch_all("SELECT id FROM things ORDER BY id") == [("y",)]


async def test_sqlite_syncs_every_commit(tmp_path: Path) -> None:
    """docs/deploy.md promises acknowledged rows survive power loss on SQLite: synchronous=FULL."""
    db = await _open(f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    try:
        assert await db.fetch_one("PRAGMA synchronous") == (2,)  # 2 = FULL
        assert await db.fetch_one("PRAGMA journal_mode") == ("wal",)
    finally:
        await db.close()
