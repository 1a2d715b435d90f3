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
from filedock.models import ApiKeyRecord, FileRecord

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
