"""One metadata store contract, run unchanged on every backend: SQLite and PostgreSQL (real)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filedock.metadata.base import CursorNotFound, MetadataStore, Order
from filedock.metadata.factory import store_for_url
from filedock.models import (
    ApiKeyRecord,
    FileRecord,
    ProjectRecord,
    PurposeUsage,
    Reservation,
    UploadPartRecord,
    UploadRecord,
)

pytestmark = pytest.mark.anyio

PROJECT = "proj_default"
NOW = 1_700_000_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Backend:
    name: str
    url: str

    async def open(self) -> MetadataStore:
        """Another store on the same database (as a second server would have)."""
        store = store_for_url(self.url)
        await store.open()
        return store


@pytest.fixture(
    params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    return Backend("postgres", request.getfixturevalue("postgres_server").database())


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[MetadataStore]:
    meta = await backend.open()
    try:
        yield meta
    finally:
        await meta.close()


def record(
    *,
    created_at: int = NOW,
    purpose: str = "assistants",
    project_id: str = PROJECT,
    expires_at: int | None = None,
    blob_key: str | None = None,
) -> FileRecord:
    return FileRecord(
        id="file-" + uuid.uuid4().hex[:22],
        project_id=project_id,
        purpose=purpose,
        filename="notes.txt",
        bytes=123,
        created_at=created_at,
        expires_at=expires_at,
        status="processed",
        status_details=None,
        sha256="ab" * 32,
        blob_key=blob_key or uuid.uuid4().hex,
    )


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
    assert page.files == []


async def list_all(
    store: MetadataStore, order: Order, limit: int, purpose: str | None = None
) -> list[str]:
    ids: list[str] = []
    after: str | None = None
    while True:
        page = await store.list_files(
            PROJECT, purpose=purpose, limit=limit, order=order, after=after, now=NOW
        )
        ids += [f.id for f in page.files]
        assert len(page.files) <= limit
        if not page.has_more:
            return ids
        after = page.files[-1].id


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
    assert [f.id for f in page.files] == [rows[0].id, rows[1].id]
    assert await store.mark_file_deleted(PROJECT, rows[1].id, NOW) is not None
    rest = await store.list_files(
        PROJECT, purpose=None, limit=10, order="desc", after=rows[1].id, now=NOW
    )
    assert [f.id for f in rest.files] == [r.id for r in rows[2:]]
    assert not rest.has_more


async def test_unknown_cursor_raises(store: MetadataStore) -> None:
    other = await store.insert_file(record(project_id="proj_other"))
    for after in ("file-nope", other.id):
        with pytest.raises(CursorNotFound):
            await store.list_files(
                PROJECT, purpose=None, limit=10, order="desc", after=after, now=NOW
            )


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
    assert [f.id for f in page.files] == [live.id]


async def test_live_blob_keys(store: MetadataStore) -> None:
    rows = [await store.insert_file(record()) for _ in range(4)]
    await store.mark_file_deleted(PROJECT, rows[0].id, NOW)
    unknown = [uuid.uuid4().hex for _ in range(700)]  # more than one SQLite batch
    asked = [r.blob_key for r in rows] + unknown
    assert await store.live_blob_keys(asked) == {r.blob_key for r in rows[1:]}
    assert await store.live_blob_keys([]) == set()


async def test_api_keys(store: MetadataStore) -> None:
    first = ApiKeyRecord("key_a", PROJECT, "ci", "sk-fd-aaaa", "hash-a", NOW)
    second = ApiKeyRecord("key_b", PROJECT, "", "sk-fd-bbbb", "hash-b", NOW + 1)
    await store.insert_api_key(second)
    await store.insert_api_key(first)
    assert await store.find_api_key("hash-a") == first
    assert await store.find_api_key("hash-x") is None
    assert await store.list_api_keys() == [first, second]
    revoked = await store.revoke_api_key("key_a", NOW + 5)
    assert revoked is not None and revoked.revoked_at == NOW + 5
    again = await store.revoke_api_key("key_a", NOW + 9)
    assert again is not None and again.revoked_at == NOW + 5  # the first revocation stands
    by_prefix = await store.revoke_api_key("sk-fd-bbbb", NOW + 6)
    assert by_prefix is not None and by_prefix.id == "key_b"
    assert await store.revoke_api_key("key_zzz", NOW) is None
    found = await store.find_api_key("hash-b")
    assert found is not None and found.revoked_at == NOW + 6


async def test_ping(store: MetadataStore) -> None:
    await store.ping()


async def test_reopening_applies_no_migration_twice(backend: Backend) -> None:
    first = await backend.open()
    rec = await first.insert_file(record())
    await first.close()
    again = await backend.open()
    try:
        assert await again.get_file(PROJECT, rec.id, NOW) == rec
    finally:
        await again.close()


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
        seen += [f.id for f in page.files]
        if not page.has_more:
            break
        after = page.files[-1].id
    assert seen == [r.id for r in expected]


# processing -------------------------------------------------------------------------------
def uploaded(project_id: str = PROJECT) -> FileRecord:
    return FileRecord(**{**record(project_id=project_id).__dict__, "status": "uploaded"})


async def test_processing_claims_are_exactly_once_under_concurrency(backend: Backend) -> None:
    servers = [await backend.open() for _ in range(3)]
    try:
        waiting = {(await servers[0].insert_file(uploaded())).id for _ in range(60)}
        done = await servers[0].insert_file(record())  # already processed: never claimed
        claims: list[tuple[str, str]] = []

        async def claimer(meta: MetadataStore, owner: str) -> None:
            while True:
                batch = await meta.claim_files_for_processing(owner, NOW, NOW + 60, 4)
                claims.extend((r.id, owner) for r in batch)
                if not batch:
                    return

        await asyncio.gather(
            *(claimer(m, f"srv{i}-{j}") for i, m in enumerate(servers) for j in range(3))
        )
        ids = [c[0] for c in claims]
        assert len(ids) == len(set(ids)) == len(waiting) and set(ids) == waiting
        assert done.id not in ids
        # Leased files are not handed out again before the lease ends ...
        assert await servers[1].claim_files_for_processing("late", NOW + 59, NOW + 90, 100) == []
        # ... and are once it has ended, in insertion order.
        again = await servers[2].claim_files_for_processing("late", NOW + 60, NOW + 120, 100)
        assert {r.id for r in again} == waiting
        assert [r.seq for r in again] == sorted(r.seq for r in again)
    finally:
        for meta in servers:
            await meta.close()


async def test_processing_lease_renew_release_and_finish(store: MetadataStore) -> None:
    rec = await store.insert_file(uploaded())
    [claimed] = await store.claim_files_for_processing("a", NOW, NOW + 10, 10)
    assert claimed.id == rec.id and claimed.status == "uploaded"
    assert await store.renew_processing_lease(rec.id, "a", NOW + 30)
    assert not await store.renew_processing_lease(rec.id, "b", NOW + 30)
    # The renewed lease holds past the first one's end.
    assert await store.claim_files_for_processing("b", NOW + 20, NOW + 40, 10) == []
    await store.release_processing_lease(rec.id, "b")  # not b's: no effect
    assert await store.claim_files_for_processing("b", NOW + 20, NOW + 40, 10) == []
    await store.release_processing_lease(rec.id, "a")
    [taken] = await store.claim_files_for_processing("b", NOW + 20, NOW + 40, 10)
    assert taken.id == rec.id
    # The former owner can neither renew nor finish any more.
    assert not await store.renew_processing_lease(rec.id, "a", NOW + 50)
    assert not await store.finish_processing(rec.id, "a", "error", "stale", '{"a": 1}', NOW)
    assert await store.get_file_report(rec.id) is None
    assert await store.finish_processing(rec.id, "b", "processed", None, '{"ok": true}', NOW)
    got = await store.get_file(PROJECT, rec.id, NOW)
    assert got is not None and (got.status, got.status_details) == ("processed", None)
    assert await store.get_file_report(rec.id) == '{"ok": true}'
    # Finished: no second finish, no renewal, no new claim.
    assert not await store.finish_processing(rec.id, "b", "error", "x", "{}", NOW)
    assert not await store.renew_processing_lease(rec.id, "b", NOW + 90)
    assert await store.claim_files_for_processing("c", NOW + 100, NOW + 200, 10) == []


async def test_finish_refused_for_a_deleted_file(store: MetadataStore) -> None:
    rec = await store.insert_file(uploaded())
    await store.claim_files_for_processing("a", NOW, NOW + 10, 10)
    await store.mark_file_deleted(PROJECT, rec.id, NOW)
    assert not await store.finish_processing(rec.id, "a", "processed", None, "{}", NOW)
    assert await store.get_file_report(rec.id) is None


async def test_file_report_save_replaces(store: MetadataStore) -> None:
    rec = await store.insert_file(record())
    assert await store.get_file_report(rec.id) is None
    await store.save_file_report(rec.id, '{"v": 1}', NOW)
    await store.save_file_report(rec.id, '{"v": 2}', NOW + 1)
    assert await store.get_file_report(rec.id) == '{"v": 2}'


# projects and quotas ----------------------------------------------------------------------
QUOTA = 1000


async def new_project(store: MetadataStore, quota: int | None = QUOTA) -> str:
    project = "proj_" + uuid.uuid4().hex[:12]
    await store.insert_project(
        ProjectRecord(project, "p " + project, NOW, storage_quota_bytes=quota)
    )
    return project


async def counters(store: MetadataStore, project: str) -> tuple[int, int]:
    got = await store.get_project(project)
    assert got is not None
    return got.used_bytes, got.reserved_bytes


def hold(project: str, nbytes: int, expires_at: int = NOW + 60) -> Reservation:
    return Reservation("res_" + uuid.uuid4().hex[:12], project, nbytes, expires_at)


def sized(project: str, nbytes: int, purpose: str = "assistants") -> FileRecord:
    return FileRecord(**{**record(project_id=project, purpose=purpose).__dict__, "bytes": nbytes})


async def test_projects_crud_and_archive(store: MetadataStore) -> None:
    first = await new_project(store)
    second = await new_project(store, quota=None)
    got = await store.get_project(first)
    assert got is not None and got.storage_quota_bytes == QUOTA and got.archived_at is None
    assert await store.get_project("proj_missing") is None
    changed = await store.update_project(
        ProjectRecord(first, "renamed", NOW, storage_quota_bytes=5, requests_per_minute=7)
    )
    assert changed is not None and (changed.name, changed.storage_quota_bytes) == ("renamed", 5)
    assert changed.requests_per_minute == 7 and changed.created_at == NOW
    assert await store.update_project(ProjectRecord("proj_missing", "x", NOW)) is None
    key = ApiKeyRecord("key_p", first, "k", "sk-fd-pppp", "hash-p", NOW, None, NOW + 99, "admin")
    await store.insert_api_key(key)
    assert await store.get_api_key("key_p") == key
    assert await store.find_api_key("hash-p") == key
    assert await store.list_project_api_keys(first) == [key]
    assert await store.list_project_api_keys(second) == []
    assert await store.get_api_key("key_missing") is None
    archived = await store.archive_project(first, NOW + 3)
    assert archived is not None and archived.archived_at == NOW + 3
    again = await store.archive_project(first, NOW + 9)
    assert again is not None and again.archived_at == NOW + 3
    revoked = await store.get_api_key("key_p")
    assert revoked is not None and revoked.revoked_at == NOW + 3
    assert await store.archive_project("proj_missing", NOW) is None
    listed, more = await store.list_projects(limit=100, after=None, include_archived=False)
    assert first not in [p.id for p in listed] and second in [p.id for p in listed]
    listed, more = await store.list_projects(limit=100, after=None, include_archived=True)
    assert {first, second} <= {p.id for p in listed} and not more
    # An archived project takes no new reservation.
    assert not await store.reserve_quota(hold(first, 1), QUOTA, NOW)


async def test_list_projects_pages(store: MetadataStore) -> None:
    made = [await new_project(store) for _ in range(5)]
    seen: list[str] = []
    after: str | None = None
    while True:
        page, more = await store.list_projects(limit=2, after=after, include_archived=True)
        seen += [p.id for p in page]
        if not more:
            break
        after = page[-1].id
    assert [p for p in seen if p in made] == sorted(made)
    with pytest.raises(CursorNotFound):
        await store.list_projects(limit=2, after="proj_missing", include_archived=True)


async def test_reserve_until_full_then_refuse(store: MetadataStore) -> None:
    project = await new_project(store)
    assert await store.reserve_quota(hold(project, 600), 10**9, NOW)
    assert await store.reserve_quota(hold(project, 400), 10**9, NOW)
    assert not await store.reserve_quota(hold(project, 1), 10**9, NOW)
    assert await counters(store, project) == (0, 1000)
    # No explicit quota: the server default applies.
    open_project = await new_project(store, quota=None)
    assert await store.reserve_quota(hold(open_project, 50), 50, NOW)
    assert not await store.reserve_quota(hold(open_project, 1), 50, NOW)
    assert not await store.reserve_quota(hold("proj_missing", 1), 50, NOW)


async def test_concurrent_reservations_never_exceed_the_quota(backend: Backend) -> None:
    servers = [await backend.open() for _ in range(3)]
    try:
        project = await new_project(servers[0])
        results = await asyncio.gather(
            *(servers[i % 3].reserve_quota(hold(project, 70), 10**9, NOW) for i in range(30))
        )
        assert sum(results) == QUOTA // 70
        assert await counters(servers[1], project) == (0, 70 * (QUOTA // 70))
    finally:
        for meta in servers:
            await meta.close()


async def test_resize_and_release(store: MetadataStore) -> None:
    project = await new_project(store)
    first, second = hold(project, 300), hold(project, 300)
    assert await store.reserve_quota(first, 0, NOW)
    assert await store.reserve_quota(second, 0, NOW)
    assert await store.resize_reservation(first.id, 701, 0, NOW + 100) == "full"
    assert await counters(store, project) == (0, 600)
    assert await store.resize_reservation(first.id, 500, 0, NOW + 100) == "ok"
    assert await store.resize_reservation(first.id, 500, 0, NOW + 100) == "ok"
    assert await counters(store, project) == (0, 800)
    assert await store.resize_reservation(first.id, 100, 0, NOW + 100) == "ok"
    assert await counters(store, project) == (0, 400)
    assert await store.resize_reservation("res_missing", 1, 0, NOW) == "missing"
    assert await store.release_reservation(second.id)
    assert not await store.release_reservation(second.id)
    assert await counters(store, project) == (0, 100)
    # The resize extended the lease: the first hold outlives the original expiry.
    assert await store.release_expired_reservations(NOW + 60) == 0
    assert await store.release_expired_reservations(NOW + 100) == 1
    assert await counters(store, project) == (0, 0)
    assert await store.resize_reservation(first.id, 1, 0, NOW) == "missing"


async def test_release_expired_reservations(store: MetadataStore) -> None:
    a, b = await new_project(store), await new_project(store)
    for project, nbytes, until in ((a, 10, NOW), (a, 20, NOW + 5), (b, 30, NOW), (b, 40, NOW + 9)):
        assert await store.reserve_quota(hold(project, nbytes, until), 0, NOW)
    assert await store.release_expired_reservations(NOW) == 2
    assert await counters(store, a) == (0, 20) and await counters(store, b) == (0, 40)
    assert await store.release_expired_reservations(NOW + 10) == 2
    assert await counters(store, a) == (0, 0) and await counters(store, b) == (0, 0)


async def test_insert_file_settling_moves_bytes_from_reserved_to_used(
    store: MetadataStore,
) -> None:
    project = await new_project(store)
    res = hold(project, 600)
    assert await store.reserve_quota(res, 0, NOW)
    assert await store.reserve_quota(hold(project, 300), 0, NOW)
    settled = await store.insert_file_settling(sized(project, 600), res.id, 0)
    assert settled is not None and settled.seq > 0
    assert await counters(store, project) == (600, 300)
    assert not await store.release_reservation(res.id)  # gone with the insert
    # Reservation already gone (expired and swept): insert only if the file still fits.
    assert await store.insert_file_settling(sized(project, 101), "res_gone", 0) is None
    assert await counters(store, project) == (600, 300)
    page = await store.list_files(project, purpose=None, limit=10, order="asc", after=None, now=NOW)
    assert [f.id for f in page.files] == [settled.id]
    assert await store.insert_file_settling(sized(project, 100), "res_gone", 0) is not None
    assert await counters(store, project) == (700, 300)
    # A lowered quota does not drop a file whose bytes were held.
    late = hold(project, 0)
    assert await store.reserve_quota(late, 0, NOW)
    await store.update_project(ProjectRecord(project, "p", NOW, storage_quota_bytes=10))
    kept = await store.insert_file_settling(sized(project, 50), late.id, 0)
    assert kept is not None and await counters(store, project) == (750, 300)


async def test_used_bytes_follow_file_rows(store: MetadataStore) -> None:
    # The database triggers (SQLite triggers, plpgsql on PostgreSQL) keep used_bytes in step.
    project = await new_project(store)
    rows = [await store.insert_file(sized(project, 100 * (i + 1))) for i in range(3)]
    expiring = await store.insert_file(
        FileRecord(**{**sized(project, 1000).__dict__, "expires_at": NOW - 1})
    )
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
        PurposeUsage("batch", 1, 5),
        PurposeUsage("fine-tune", 2, 30),
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
                FileRecord(
                    **{**sized(projects[(i * 5) % 8], 10).__dict__, "expires_at": NOW - 1 - i % 3}
                )
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


async def test_concurrent_upload_flows_keep_the_counters_exact(backend: Backend) -> None:
    # Many uploads at once on several "servers" (reserve, grow, then settle or give up) while a
    # sweeper drops expired holds: no deadlock, no error, and the counters end exact.
    servers = [await backend.open() for _ in range(3)]
    try:
        projects = [await new_project(servers[0], quota=None) for _ in range(3)]
        stored: list[int] = []

        async def upload(i: int) -> None:
            meta, project = servers[i % 3], projects[i % 3]
            res = hold(project, 10, expires_at=NOW + (5 if i % 4 == 0 else 100))
            if not await meta.reserve_quota(res, 10**9, NOW):
                return
            if await meta.resize_reservation(res.id, 20, 10**9, res.expires_at) != "ok":
                return
            if i % 3 == 0:
                await meta.release_reservation(res.id)
            elif await meta.insert_file_settling(sized(project, 20), res.id, 10**9):
                stored.append(20)

        async def sweeper() -> None:
            for _ in range(10):
                await servers[2].release_expired_reservations(NOW + 10)
                await asyncio.sleep(0)

        await asyncio.gather(sweeper(), *(upload(i) for i in range(60)))
        await servers[0].release_expired_reservations(NOW + 10**6)
        totals = [await counters(servers[1], p) for p in projects]
        assert sum(used for used, _ in totals) == sum(stored) and stored
        assert all(reserved == 0 for _, reserved in totals)
    finally:
        for meta in servers:
            await meta.close()


# uploads ----------------------------------------------------------------------------------
def an_upload(nbytes: int = 100, expires_at: int = NOW + 3600) -> UploadRecord:
    return UploadRecord(
        "upload_" + uuid.uuid4().hex[:12],
        PROJECT,
        "d.bin",
        "user_data",
        nbytes,
        "application/octet-stream",
        NOW,
        expires_at,
        "pending",
        None,
    )


def a_part(upload: UploadRecord, nbytes: int, at: int = NOW) -> UploadPartRecord:
    return UploadPartRecord(
        "part_" + uuid.uuid4().hex[:12], upload.id, nbytes, "ab" * 32, uuid.uuid4().hex, at
    )


async def test_upload_rows(store: MetadataStore) -> None:
    up = an_upload()
    await store.insert_upload(up)
    assert await store.get_upload(PROJECT, up.id) == up
    assert await store.get_upload("proj_other", up.id) is None
    first, second = a_part(up, 60), a_part(up, 40, NOW + 1)
    assert await store.insert_upload_part(first, NOW)
    assert not await store.insert_upload_part(a_part(up, 41), NOW)  # over the declared size
    assert await store.insert_upload_part(second, NOW)
    assert await store.list_upload_parts(up.id) == [first, second]
    got = await store.get_upload(PROJECT, up.id)
    assert got is not None and got.received_bytes == 100
    assert await store.pending_upload_part_keys([first.blob_key, "nope"]) == {first.blob_key}
    assert await store.dead_upload_parts(10) == []
    assert await store.start_upload_completion(up.id, "file-x")
    assert await store.finish_upload_completion(up.id, "file-y") is None
    done = await store.finish_upload_completion(up.id, "file-x")
    assert done is not None and done.status == "completed"
    assert await store.finish_upload_completion(up.id, "file-x") is not None  # idempotent
    assert not await store.start_upload_completion(up.id, "file-z")
    assert await store.pending_upload_part_keys([first.blob_key]) == set()
    dead = await store.dead_upload_parts(10)
    assert {p.id for p in dead} == {first.id, second.id}
    assert await store.purge_finished_uploads(NOW + 10**6) == 0  # parts still there
    await store.delete_upload_parts([p.id for p in dead])
    await store.delete_upload_parts([])
    assert await store.purge_finished_uploads(NOW + 10**6) == 1
    assert await store.get_upload(PROJECT, up.id) is None


async def test_upload_cancel_expire_and_settle(store: MetadataStore) -> None:
    cancelled, expiring, published = an_upload(), an_upload(expires_at=NOW + 5), an_upload()
    for up in (cancelled, expiring, published):
        await store.insert_upload(up)
    got = await store.cancel_upload(PROJECT, cancelled.id, NOW)
    assert got is not None and got.status == "cancelled"
    assert await store.cancel_upload(PROJECT, cancelled.id, NOW) is None
    assert not await store.insert_upload_part(a_part(cancelled, 1), NOW)
    assert not await store.insert_upload_part(a_part(expiring, 1), NOW + 5)
    # A completion that published its File before a crash: settled, not expired or cancelled.
    file = await store.insert_file(record())
    assert await store.start_upload_completion(published.id, file.id)
    assert await store.cancel_upload(PROJECT, published.id, NOW) is None
    assert await store.claim_expired_uploads(NOW + 10, 10) == 1  # `expiring` only
    got = await store.get_upload(PROJECT, expiring.id)
    assert got is not None and got.status == "expired"
    assert await store.settle_published_uploads() == 1
    got = await store.get_upload(PROJECT, published.id)
    assert got is not None and got.status == "completed"
    assert await store.settle_published_uploads() == 0
