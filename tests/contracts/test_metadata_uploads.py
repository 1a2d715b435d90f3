"""The uploads aggregate's contract: Upload rows and their parts."""

from __future__ import annotations

import asyncio

import pytest

from filedock.metadata.base import MetadataStore
from filedock.models import FileRecord, UploadPartRecord
from tests.contracts import metadata_common as common
from tests.contracts.metadata_common import (
    NOW,
    PROJECT,
    Backend,
    a_part,
    an_upload,
    part,
    record,
    upload,
)

# The same fixtures (and so the same SQLite/PostgreSQL parametrisation) in every suite.
anyio_backend = common.anyio_backend
backend = common.backend
store = common.store

pytestmark = pytest.mark.anyio


async def test_insert_and_get_upload(store: MetadataStore) -> None:
    up = upload(1234)
    await store.insert_upload(up)
    assert await store.get_upload(PROJECT, up.id) == up
    assert await store.get_upload("proj_other", up.id) is None
    assert await store.get_upload(PROJECT, "upload_missing") is None


async def test_parts_fit_within_the_declared_bytes(store: MetadataStore) -> None:
    up = upload(100)
    await store.insert_upload(up)
    first, second, too_big, last = (
        part(up.id, 60),
        part(up.id, 30, NOW + 1),
        part(up.id, 11),
        part(up.id, 10, NOW + 2),
    )
    assert await store.insert_upload_part(first, NOW)
    assert await store.insert_upload_part(second, NOW)
    assert not await store.insert_upload_part(too_big, NOW)
    assert await store.insert_upload_part(last, NOW)
    assert await store.list_upload_parts(up.id) == [first, second, last]
    got = await store.get_upload(PROJECT, up.id)
    assert got is not None and got.received_bytes == 100
    # Full: even an empty-room part of one byte is refused, and nothing is stored.
    assert not await store.insert_upload_part(part(up.id, 1), NOW)
    assert len(await store.list_upload_parts(up.id)) == 3


async def test_parts_refused_for_expired_or_finished_uploads(store: MetadataStore) -> None:
    expired = upload(100, expires_at=NOW)
    await store.insert_upload(expired)
    assert not await store.insert_upload_part(part(expired.id, 1), NOW)
    cancelled = upload(100)
    await store.insert_upload(cancelled)
    assert await store.cancel_upload(PROJECT, cancelled.id, NOW) is not None
    assert not await store.insert_upload_part(part(cancelled.id, 1), NOW)
    assert not await store.insert_upload_part(part("upload_missing", 1), NOW)
    assert await store.list_upload_parts(expired.id) == []
    assert await store.list_upload_parts(cancelled.id) == []


async def test_concurrent_parts_never_exceed_the_declared_bytes(backend: Backend) -> None:
    # Three "servers" (separate stores and pools on one database), many tasks each, racing
    # parts of 7 bytes into an Upload of 100: exactly 14 fit (98 bytes), never more.
    servers = [await backend.open() for _ in range(3)]
    try:
        up = upload(100)
        await servers[0].insert_upload(up)
        accepted: list[UploadPartRecord] = []

        async def add(meta: MetadataStore) -> None:
            p = part(up.id, 7)
            if await meta.insert_upload_part(p, NOW):
                accepted.append(p)

        await asyncio.gather(*(add(m) for m in servers for _ in range(12)))
        assert len(accepted) == 14
        stored = await servers[1].list_upload_parts(up.id)
        assert {p.id for p in stored} == {p.id for p in accepted}
        got = await servers[2].get_upload(PROJECT, up.id)
        assert got is not None and got.received_bytes == 98 == sum(p.bytes for p in stored)
    finally:
        for meta in servers:
            await meta.close()


async def test_completion_transitions(store: MetadataStore) -> None:
    up = upload(10)
    await store.insert_upload(up)
    assert await store.finish_upload_completion(up.id, "file-x") is None  # not started
    assert await store.start_upload_completion(up.id, "file-x")
    assert await store.finish_upload_completion(up.id, "file-other") is None
    done = await store.finish_upload_completion(up.id, "file-x")
    assert done is not None and done.status == "completed" and done.file_id == "file-x"
    # Repeating the finish with the same File is idempotent; starting again is refused.
    assert await store.finish_upload_completion(up.id, "file-x") == done
    assert not await store.start_upload_completion(up.id, "file-y")
    assert await store.cancel_upload(PROJECT, up.id, NOW) is None
    assert await store.get_upload(PROJECT, up.id) == done


async def test_cancel_transitions(store: MetadataStore) -> None:
    up = upload(10)
    await store.insert_upload(up)
    assert await store.cancel_upload("proj_other", up.id, NOW) is None
    cancelled = await store.cancel_upload(PROJECT, up.id, NOW)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert await store.cancel_upload(PROJECT, up.id, NOW) is None
    assert not await store.start_upload_completion(up.id, "file-x")
    # Past its expiry an Upload cannot be cancelled.
    late = upload(10, expires_at=NOW)
    await store.insert_upload(late)
    assert await store.cancel_upload(PROJECT, late.id, NOW) is None


async def test_published_file_blocks_cancel_and_expiry_and_settles(store: MetadataStore) -> None:
    up = upload(10, expires_at=NOW + 5)
    await store.insert_upload(up)
    file: FileRecord = record()
    assert await store.start_upload_completion(up.id, file.id)
    # Completion started but the File is not published yet: nothing to settle.
    assert await store.settle_published_uploads() == 0
    await store.insert_file(file)
    assert await store.cancel_upload(PROJECT, up.id, NOW) is None
    assert await store.claim_expired_uploads(NOW + 10, 100) == 0
    assert await store.settle_published_uploads() == 1
    got = await store.get_upload(PROJECT, up.id)
    assert got is not None and got.status == "completed" and got.file_id == file.id
    assert await store.settle_published_uploads() == 0


async def test_expiry_claims_are_exactly_once_under_concurrency(backend: Backend) -> None:
    servers = [await backend.open() for _ in range(3)]
    try:
        expired = [upload(10, expires_at=NOW - i % 5) for i in range(40)]
        alive = upload(10, expires_at=NOW + 100)
        for up in [*expired, alive]:
            await servers[0].insert_upload(up)
        counts: list[int] = []

        async def claimer(meta: MetadataStore) -> None:
            while n := await meta.claim_expired_uploads(NOW, 3):
                counts.append(n)

        await asyncio.gather(*(claimer(m) for m in servers for _ in range(3)))
        assert sum(counts) == len(expired)
        for up in expired:
            got = await servers[1].get_upload(PROJECT, up.id)
            assert got is not None and got.status == "expired"
        still = await servers[2].get_upload(PROJECT, alive.id)
        assert still is not None and still.status == "pending"
        assert await servers[0].claim_expired_uploads(NOW, 100) == 0
    finally:
        for meta in servers:
            await meta.close()


async def test_dead_parts_and_purge(store: MetadataStore) -> None:
    pending, finished = upload(100, expires_at=NOW + 10), upload(100, expires_at=NOW + 10)
    await store.insert_upload(pending)
    await store.insert_upload(finished)
    live_part, dead_part = part(pending.id, 5), part(finished.id, 5)
    assert await store.insert_upload_part(live_part, NOW)
    assert await store.insert_upload_part(dead_part, NOW)
    assert await store.dead_upload_parts(100) == []

    assert await store.cancel_upload(PROJECT, finished.id, NOW) is not None
    assert await store.dead_upload_parts(100) == [dead_part]
    # A finished Upload with part rows left, or not yet past the given time, is kept.
    assert await store.purge_finished_uploads(NOW + 100) == 0
    await store.delete_upload_parts([dead_part.id])
    await store.delete_upload_parts([])
    assert await store.dead_upload_parts(100) == []
    assert await store.list_upload_parts(finished.id) == []
    assert await store.purge_finished_uploads(NOW + 10) == 0
    assert await store.purge_finished_uploads(NOW + 11) == 1
    assert await store.get_upload(PROJECT, finished.id) is None
    # Pending Uploads are never purged, whatever their age.
    assert await store.get_upload(PROJECT, pending.id) is not None
    assert await store.list_upload_parts(pending.id) == [live_part]


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
    assert await store.dead_upload_parts(10) == []
    assert await store.start_upload_completion(up.id, "file-x")
    assert await store.finish_upload_completion(up.id, "file-y") is None
    done = await store.finish_upload_completion(up.id, "file-x")
    assert done is not None and done.status == "completed"
    assert await store.finish_upload_completion(up.id, "file-x") is not None  # idempotent
    assert not await store.start_upload_completion(up.id, "file-z")
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
