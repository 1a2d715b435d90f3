"""The files aggregate's contract: rows, listings, tombstones, expiry claims, usage."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from msgspec.structs import replace

from filedock.metadata.base import CursorNotFound, MetadataStore, Order
from filedock.models import PurposeUsage
from tests.contracts import metadata_common as common
from tests.contracts.metadata_common import (
    NOW,
    PROJECT,
    Backend,
    counters,
    new_project,
    record,
    sized,
)

# The same fixtures (and so the same SQLite/PostgreSQL parametrisation) in every suite.
anyio_backend = common.anyio_backend
backend = common.backend
store = common.store

pytestmark = pytest.mark.anyio


async def test_insert_and_get(store: MetadataStore) -> None:
    first = await store.insert_file(record())
    second = await store.insert_file(record())
    assert 0 < first.seq < second.seq
    got = await store.get_file(PROJECT, first.id, NOW)
    assert got == first
    assert await store.get_file("proj_other", first.id, NOW) is None
    assert await store.get_file(PROJECT, "file-missing", NOW) is None


async def test_expired_file_is_not_live(store: MetadataStore) -> None:
    rec = await store.insert_file(record(expires_at=NOW + 10))
    assert await store.get_file(PROJECT, rec.id, NOW + 9) == rec
    assert await store.get_file(PROJECT, rec.id, NOW + 10) is None
    page = await store.list_files(
        PROJECT, purpose=None, limit=10, order="desc", after=None, now=NOW + 10
    )
    assert page.data == []


async def list_all(
    store: MetadataStore, order: Order, limit: int, purpose: str | None = None
) -> list[str]:
    ids: list[str] = []
    after: str | None = None
    while True:
        page = await store.list_files(
            PROJECT, purpose=purpose, limit=limit, order=order, after=after, now=NOW
        )
        ids += [f.id for f in page.data]
        assert len(page.data) <= limit
        if not page.has_more:
            return ids
        after = page.data[-1].id


@pytest.mark.parametrize("order", ["asc", "desc"])
@pytest.mark.parametrize("limit", [1, 4, 7, 100])
async def test_keyset_pagination_with_ties(store: MetadataStore, order: Order, limit: int) -> None:
    # Many rows share created_at: the insertion sequence breaks the tie, so no row is lost or
    # repeated across pages.
    inserted = []
    for i in range(23):
        inserted.append(
            await store.insert_file(
                record(created_at=NOW - (i // 5), purpose="batch" if i % 3 else "assistants")
            )
        )
    await store.insert_file(record(project_id="proj_other"))
    expected = sorted(inserted, key=lambda r: (r.created_at, r.seq), reverse=order == "desc")
    assert await list_all(store, order, limit) == [r.id for r in expected]
    assert await list_all(store, order, limit, purpose="batch") == [
        r.id for r in expected if r.purpose == "batch"
    ]


async def test_pagination_continues_after_a_tombstoned_cursor(store: MetadataStore) -> None:
    rows = [await store.insert_file(record(created_at=NOW - i)) for i in range(6)]
    page = await store.list_files(PROJECT, purpose=None, limit=2, order="desc", after=None, now=NOW)
    assert [f.id for f in page.data] == [rows[0].id, rows[1].id]
    assert await store.mark_file_deleted(PROJECT, rows[1].id, NOW) is not None
    rest = await store.list_files(
        PROJECT, purpose=None, limit=10, order="desc", after=rows[1].id, now=NOW
    )
    assert [f.id for f in rest.data] == [r.id for r in rows[2:]]
    assert not rest.has_more


async def test_unknown_cursor_raises(store: MetadataStore) -> None:
    other = await store.insert_file(record(project_id="proj_other"))
    for after in ("file-nope", other.id):
        with pytest.raises(CursorNotFound):
            await store.list_files(
                PROJECT, purpose=None, limit=10, order="desc", after=after, now=NOW
            )


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    created=st.lists(st.integers(0, 4), min_size=0, max_size=14),
    limit=st.integers(1, 6),
    order=st.sampled_from(["asc", "desc"]),
)
async def test_pagination_property(
    store: MetadataStore, created: list[int], limit: int, order: Order
) -> None:
    # Each example gets its own project, so examples share the database without interfering.
    project = "proj_" + uuid.uuid4().hex[:12]
    rows = [
        await store.insert_file(record(created_at=NOW + c, project_id=project)) for c in created
    ]
    expected = sorted(rows, key=lambda r: (r.created_at, r.seq), reverse=order == "desc")
    seen: list[str] = []
    after: str | None = None
    while True:
        page = await store.list_files(
            project, purpose=None, limit=limit, order=order, after=after, now=NOW
        )
        seen += [f.id for f in page.data]
        if not page.has_more:
            break
        after = page.data[-1].id
    assert seen == [r.id for r in expected]


async def test_mark_deleted(store: MetadataStore) -> None:
    rec = await store.insert_file(record())
    deleted = await store.mark_file_deleted(PROJECT, rec.id, NOW)
    assert deleted is not None and deleted.id == rec.id and deleted.blob_key == rec.blob_key
    assert await store.mark_file_deleted(PROJECT, rec.id, NOW) is None
    assert await store.get_file(PROJECT, rec.id, NOW) is None
    other = await store.insert_file(record())
    assert await store.mark_file_deleted("proj_other", other.id, NOW) is None


async def test_update_status(store: MetadataStore) -> None:
    rec = await store.insert_file(record())
    await store.update_file_status(rec.id, "error", "bad line 3")
    got = await store.get_file(PROJECT, rec.id, NOW)
    assert got is not None and (got.status, got.status_details) == ("error", "bad line 3")


async def test_expiry_claims_are_exactly_once_under_concurrency(backend: Backend) -> None:
    # Several "servers" (separate stores on one database), each with several claimers at once.
    servers = [await backend.open() for _ in range(3)]
    try:
        expired = {
            (await servers[0].insert_file(record(expires_at=NOW - 1 - i % 7))).id
            for i in range(120)
        }
        alive = await servers[0].insert_file(record(expires_at=NOW + 100))
        claimed: list[str] = []

        async def claimer(meta: MetadataStore) -> None:
            while True:
                batch = await meta.claim_expired_files(NOW, 5)
                claimed.extend(r.id for r in batch)
                if not batch:
                    return

        await asyncio.gather(*(claimer(m) for m in servers for _ in range(4)))
        assert len(claimed) == len(set(claimed)) == len(expired)
        assert set(claimed) == expired
        assert await servers[1].claim_expired_files(NOW, 100) == []
        assert await servers[2].get_file(PROJECT, alive.id, NOW) == alive
    finally:
        for meta in servers:
            await meta.close()


async def test_purge_tombstones(store: MetadataStore) -> None:
    old, recent, live = [await store.insert_file(record()) for _ in range(3)]
    await store.mark_file_deleted(PROJECT, old.id, NOW - 100)
    await store.mark_file_deleted(PROJECT, recent.id, NOW)
    assert await store.purge_tombstones(NOW - 50) == 1
    with pytest.raises(CursorNotFound):
        await store.list_files(PROJECT, purpose=None, limit=1, order="asc", after=old.id, now=NOW)
    page = await store.list_files(
        PROJECT, purpose=None, limit=5, order="asc", after=recent.id, now=NOW
    )
    assert [f.id for f in page.data] == [live.id]


async def test_used_bytes_follow_file_rows(store: MetadataStore) -> None:
    # The database triggers (SQLite triggers, plpgsql on PostgreSQL) keep used_bytes in step.
    project = await new_project(store)
    rows = [await store.insert_file(sized(project, 100 * (i + 1))) for i in range(3)]
    expiring = await store.insert_file(replace(sized(project, 1000), expires_at=NOW - 1))
    assert await counters(store, project) == (1600, 0)
    await store.mark_file_deleted(project, rows[0].id, NOW)
    assert await counters(store, project) == (1500, 0)
    assert [r.id for r in await store.claim_expired_files(NOW, 10)] == [expiring.id]
    assert await counters(store, project) == (500, 0)
    assert await store.purge_tombstones(NOW + 1) == 2
    assert await counters(store, project) == (500, 0)  # tombstones were already uncounted
    await store.update_file_status(rows[1].id, "error", "x")
    assert await counters(store, project) == (500, 0)


async def test_usage_per_purpose(store: MetadataStore) -> None:
    a, b = await new_project(store), await new_project(store)
    for project, purpose, nbytes in (
        (a, "fine-tune", 10),
        (a, "fine-tune", 20),
        (a, "batch", 5),
        (b, "batch", 7),
        (b, "assistants", 1),
    ):
        await store.insert_file(sized(project, nbytes, purpose))
    gone = await store.insert_file(sized(a, 1000, "vision"))
    await store.mark_file_deleted(a, gone.id, NOW)
    assert await store.project_usage(a, NOW) == [
        PurposeUsage(bytes=5, file_count=1, purpose="batch"),
        PurposeUsage(bytes=30, file_count=2, purpose="fine-tune"),
    ]
    assert await store.project_usage("proj_missing", NOW) == []
    assert await store.usage_by_purpose(NOW) == [
        ("assistants", 1, 1),
        ("batch", 2, 12),
        ("fine-tune", 2, 30),
    ]


async def test_concurrent_expiry_sweeps_across_projects_keep_usage(backend: Backend) -> None:
    # Expiring files of many projects: each sweep's tombstones move several projects' counters
    # (database triggers), so concurrent sweepers must lock those rows in one order.
    servers = [await backend.open() for _ in range(3)]
    try:
        projects = [await new_project(servers[0], quota=None) for _ in range(8)]
        for i in range(160):
            await servers[0].insert_file(
                replace(sized(projects[(i * 5) % 8], 10), expires_at=NOW - 1 - i % 3)
            )
        claimed: list[str] = []

        async def claimer(meta: MetadataStore) -> None:
            while batch := await meta.claim_expired_files(NOW, 7):
                claimed.extend(r.id for r in batch)

        await asyncio.gather(*(claimer(m) for m in servers for _ in range(3)))
        assert len(claimed) == len(set(claimed)) == 160
        for project in projects:
            assert await counters(servers[1], project) == (0, 0)
    finally:
        for meta in servers:
            await meta.close()
