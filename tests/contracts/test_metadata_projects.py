"""The projects aggregate's contract: projects, quota counters and reservations."""

from __future__ import annotations

import asyncio

import pytest

from filedock.metadata.base import CursorNotFound, MetadataStore
from filedock.models import ApiKeyRecord, ProjectRecord
from tests.contracts import metadata_common as common
from tests.contracts.metadata_common import NOW, QUOTA, Backend, counters, hold, new_project, sized

# The same fixtures (and so the same SQLite/PostgreSQL parametrisation) in every suite.
anyio_backend = common.anyio_backend
backend = common.backend
store = common.store

pytestmark = pytest.mark.anyio


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
    assert [f.id for f in page.data] == [settled.id]
    assert await store.insert_file_settling(sized(project, 100), "res_gone", 0) is not None
    assert await counters(store, project) == (700, 300)
    # A lowered quota does not drop a file whose bytes were held.
    late = hold(project, 0)
    assert await store.reserve_quota(late, 0, NOW)
    await store.update_project(ProjectRecord(project, "p", NOW, storage_quota_bytes=10))
    kept = await store.insert_file_settling(sized(project, 50), late.id, 0)
    assert kept is not None and await counters(store, project) == (750, 300)


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
