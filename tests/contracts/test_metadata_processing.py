"""The processing aggregate's contract: leases on file rows, and reports."""

from __future__ import annotations

import asyncio

import pytest

from filedock.metadata.base import MetadataStore
from tests.contracts import metadata_common as common
from tests.contracts.metadata_common import NOW, PROJECT, Backend, record, uploaded

# The same fixtures (and so the same SQLite/PostgreSQL parametrisation) in every suite.
anyio_backend = common.anyio_backend
backend = common.backend
store = common.store

pytestmark = pytest.mark.anyio


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
