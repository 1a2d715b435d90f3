"""BlobStore.compose contract, run against every blob store available here (local disk)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filedock.blobs.base import BlobStore
from filedock.blobs.local import LocalBlobStore, _copy_into
from filedock.errors import BlobNotFound


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), 100_000):
        yield data[start : start + 100_000]


async def _read(store: BlobStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(key)])


async def _keys(store: BlobStore) -> set[str]:
    return {key async for key, _ in store.list_keys()}


@pytest.fixture(params=["local-links", "local-copy"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return LocalBlobStore(tmp_path / "blobs", link_parts=request.param == "local-links")


def test_compose_concatenates_in_order(store: BlobStore) -> None:
    async def main() -> None:
        await store.open()
        parts = {f"part{i:02d}": os.urandom(1000 * i + 7) for i in range(1, 6)}
        for key, data in parts.items():
            await store.put(key, _chunks(data))
        order = ["part03", "part01", "part05", "part03", "part02"]
        info = await store.compose("composed", order)
        expected = b"".join(parts[k] for k in order)
        assert (info.key, info.size, info.sha256) == ("composed", len(expected), "")
        assert await _read(store, "composed") == expected
        assert await store.size("composed") == len(expected)
        # The parts are untouched; the caller deletes them.
        for key, data in parts.items():
            assert await _read(store, key) == data
        assert await _keys(store) == {*parts, "composed"}
        # Ranges across part boundaries read the same as from one file.
        for start, end in [(0, 1), (1000, 9000), (1006, 1007), (5000, len(expected))]:
            ranged = b"".join([c async for c in store.read("composed", start, end)])
            assert ranged == expected[start:end]
        # Deleting the parts leaves the composed blob whole.
        for key in parts:
            await store.delete(key)
        assert await _read(store, "composed") == expected
        empty = await store.compose("nothing", [])
        assert empty.size == 0 and await _read(store, "nothing") == b""
        assert [key async for key, _ in store.list_temporaries()] == []

    anyio.run(main)


def test_compose_with_missing_part_leaves_nothing(store: BlobStore) -> None:
    async def main() -> None:
        await store.open()
        await store.put("there", _chunks(b"abc"))
        with pytest.raises(BlobNotFound):
            await store.compose("target", ["there", "missing"])
        assert await _keys(store) == {"there"}
        assert [key async for key, _ in store.list_temporaries()] == []

    anyio.run(main)


def test_sendfile_fallback_copies_the_same(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.write_bytes(os.urandom(300_000))
    dest = tmp_path / "dst"
    with source.open("rb") as src, dest.open("wb") as dst:
        dst.write(b"head")
        dst.flush()
        assert _copy_into(src.fileno(), dst.fileno(), 300_000, False) is False
    assert dest.read_bytes() == b"head" + source.read_bytes()


def test_deleted_composed_blob_and_abandoned_composition(store: BlobStore) -> None:
    async def main() -> None:
        await store.open()
        await store.put("p", _chunks(b"x" * 10))
        await store.compose("c", ["p", "p"])
        await store.delete("c")
        await store.delete("c")  # deleting a missing blob is not an error
        assert await _keys(store) == {"p"}
        with pytest.raises(BlobNotFound):
            await store.size("c")
        # A composition abandoned by a crash is an unfinished write of its key: the blob
        # ledger's sweep discards it by key once its lease lapsed.
        assert isinstance(store, LocalBlobStore)
        (store.root / "tmp" / "c.dead.compose").mkdir()
        (store.root / "tmp" / "c.dead.compose" / "00000000").write_bytes(b"x")
        assert [key async for key, _ in store.list_temporaries()] == ["c"]
        await store.discard("c")
        assert list((store.root / "tmp").iterdir()) == []

    anyio.run(main)


@given(
    sizes=st.lists(st.integers(0, 3000), max_size=6),
    bounds=st.tuples(st.integers(0, 20000), st.integers(0, 20000)),
)
@settings(max_examples=60, deadline=None)
def test_composed_ranges_read_like_one_file(
    tmp_path_factory: pytest.TempPathFactory, sizes: list[int], bounds: tuple[int, int]
) -> None:
    store = LocalBlobStore(tmp_path_factory.mktemp("ranges"))
    parts = [os.urandom(size) for size in sizes]
    whole = b"".join(parts)
    start, end = min(bounds), max(bounds)
    end = min(end, len(whole))
    start = min(start, end)

    async def main() -> None:
        await store.open()
        keys = []
        for index, data in enumerate(parts):
            await store.put(f"part{index}", _chunks(data))
            keys.append(f"part{index}")
        await store.compose("whole", keys)
        assert await store.size("whole") == len(whole)
        got = b"".join([c async for c in store.read("whole", start, end)])
        assert got == whole[start:end]
        assert b"".join([c async for c in store.read("whole", start)]) == whole[start:]

    anyio.run(main)


@pytest.mark.s3
def test_s3_compose_copies_big_parts_and_streams_small_ones(swift_server: Any) -> None:
    """The same contract on S3: UploadPartCopy for >= 5 MiB parts, a streamed copy otherwise."""
    from filedock.blobs.s3 import S3BlobStore

    store = S3BlobStore(
        f"s3://{swift_server.bucket()}/compose-{os.urandom(4).hex()}",
        endpoint_url=swift_server.endpoint,
        region=swift_server.region,
        access_key_id=swift_server.access_key,
        secret_access_key=swift_server.secret_key,
        path_style=True,
    )
    big = [os.urandom(5 * 1024 * 1024), os.urandom(5 * 1024 * 1024 + 3)]
    small = [os.urandom(1000), os.urandom(7)]

    async def main() -> None:
        await store.open()
        try:
            for index, data in enumerate(big + small):
                await store.put(f"p{index}", _chunks(data))
            copied = await store.compose("copied", ["p0", "p1", "p2"])
            assert copied.size == len(big[0]) + len(big[1]) + 1000
            assert await _read(store, "copied") == big[0] + big[1] + small[0]
            streamed = await store.compose("streamed", ["p2", "p3", "p0"])
            assert await _read(store, "streamed") == small[0] + small[1] + big[0]
            assert streamed.size == 1007 + len(big[0])
            empty = await store.compose("empty", [])
            assert empty.size == 0 and await _read(store, "empty") == b""
            with pytest.raises(BlobNotFound):
                await store.compose("never", ["p0", "missing"])
            assert "never" not in await _keys(store)
        finally:
            await store.close()

    anyio.run(main)
