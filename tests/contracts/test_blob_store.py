"""One blob store contract, run unchanged on every backend: local disk and S3 (a real Swift)."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from filedock.blobs.base import BlobStore
from filedock.blobs.local import LocalBlobStore
from filedock.blobs.s3 import PART_SIZE, S3BlobStore
from filedock.errors import BlobNotFound, StorageError
from tests.services import SwiftServer

pytestmark = pytest.mark.anyio

MiB = 1024 * 1024


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Backend:
    """A store factory plus the backend-specific probes the contract needs."""

    name: str
    root: Path | None = None
    swift: SwiftServer | None = None
    bucket: str = ""
    prefix: str = ""

    def make(self) -> BlobStore:
        if self.name == "local":
            assert self.root is not None
            return LocalBlobStore(self.root)
        assert self.swift is not None
        return S3BlobStore(
            f"s3://{self.bucket}/{self.prefix}",
            endpoint_url=self.swift.endpoint,
            region=self.swift.region,
            access_key_id=self.swift.access_key,
            secret_access_key=self.swift.secret_key,
            path_style=True,
        )

    def temporaries(self) -> int:
        """Unfinished writes left in the backend (temp files / multipart uploads)."""
        if self.name == "local":
            assert self.root is not None
            return len(os.listdir(self.root / "tmp"))
        assert self.swift is not None
        uploads = self.swift.client().list_multipart_uploads(
            Bucket=self.bucket, Prefix=self.prefix + "/"
        )
        return len(uploads.get("Uploads", []))


@pytest.fixture(scope="module")
def s3_bucket(request: pytest.FixtureRequest) -> str:
    swift: SwiftServer = request.getfixturevalue("swift_server")
    return swift.bucket()


@pytest.fixture(
    params=[pytest.param("local"), pytest.param("s3", marks=pytest.mark.s3)],
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "local":
        return Backend("local", root=tmp_path / "blobs")
    return Backend(
        "s3",
        swift=request.getfixturevalue("swift_server"),
        bucket=request.getfixturevalue("s3_bucket"),
        prefix="t-" + uuid.uuid4().hex[:10],
    )


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[BlobStore]:
    blobs = backend.make()
    await blobs.open()
    try:
        yield blobs
    finally:
        await blobs.close()


def payload(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * 2048  # 64 KiB, not all one byte
    return (block * (size // len(block) + 1))[:size]


async def chunks(data: bytes, size: int = 300_000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def read_all(blobs: BlobStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([c async for c in blobs.read(key, start, end)])


async def keys_of(blobs: BlobStore) -> dict[str, float]:
    return {k: m async for k, m in blobs.list_keys()}


def new_key() -> str:
    return uuid.uuid4().hex


@pytest.mark.parametrize("size", [0, 1, 1000, 3 * MiB + 7, PART_SIZE * 2 + 12345])
async def test_put_then_read_size_and_hash(store: BlobStore, size: int) -> None:
    data = payload(size, seed=size)
    key = new_key()
    info = await store.put(key, chunks(data))
    assert (info.key, info.size, info.sha256) == (key, size, hashlib.sha256(data).hexdigest())
    assert await store.size(key) == size
    assert await read_all(store, key) == data


async def test_writer_keeps_the_bytes_as_given(store: BlobStore) -> None:
    # The writer keeps references to what it is given until a block is written: a caller that
    # reuses its buffer (a bytearray, a memoryview of one) must not change the stored bytes.
    data = os.urandom(2 * MiB + 5)
    writer = await store.begin_write(new_key())
    buffer = bytearray(4096)
    for offset in range(0, len(data), 4096):
        piece = data[offset : offset + 4096]
        buffer[: len(piece)] = piece
        whole = len(piece) == len(buffer) and offset % 8192 == 0
        await writer.write(buffer if whole else memoryview(buffer)[: len(piece)])
    info = await writer.commit()
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert await read_all(store, info.key) == data


async def test_writer_takes_many_small_writes(store: BlobStore) -> None:
    # More pieces in one block than one writev call takes (IOV_MAX, 1024 on Linux).
    data = payload(MiB + 3000, seed=22)
    writer = await store.begin_write(new_key())
    for offset in range(0, len(data), 500):
        await writer.write(data[offset : offset + 500])
    info = await writer.commit()
    assert (info.size, info.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert await read_all(store, info.key) == data


@pytest.mark.parametrize(
    ("start", "end"),
    [(0, None), (0, 1), (5, 10), (999, None), (1000, None), (1500, None), (10, 10), (0, 1000)],
)
async def test_range_reads(store: BlobStore, start: int, end: int | None) -> None:
    data = payload(1000, seed=3)
    key = new_key()
    await store.put(key, chunks(data, 64))
    assert await read_all(store, key, start, end) == data[start:end]


async def test_range_read_spanning_parts(store: BlobStore) -> None:
    data = payload(PART_SIZE + 3 * MiB, seed=9)
    key = new_key()
    await store.put(key, chunks(data, MiB))
    start, end = PART_SIZE - 100, PART_SIZE + 2 * MiB
    assert await read_all(store, key, start, end) == data[start:end]


async def test_missing_blob_is_blob_not_found(store: BlobStore) -> None:
    key = new_key()
    with pytest.raises(BlobNotFound):
        await store.size(key)
    with pytest.raises(BlobNotFound):
        await read_all(store, key)
    with pytest.raises(BlobNotFound):
        await read_all(store, key, 0, 0)


async def test_delete_is_idempotent(store: BlobStore) -> None:
    key = new_key()
    await store.put(key, chunks(b"bytes"))
    await store.delete(key)
    await store.delete(key)
    await store.delete(new_key())  # never existed
    with pytest.raises(BlobNotFound):
        await store.size(key)
    assert key not in await keys_of(store)


async def test_list_keys_reports_committed_blobs_with_mtime(store: BlobStore) -> None:
    before = time.time() - 5
    keys = {new_key() for _ in range(3)}
    for key in keys:
        await store.put(key, chunks(b"x" * 10))
    listed = await keys_of(store)
    assert keys <= set(listed)
    for key in keys:
        assert before <= listed[key] <= time.time() + 5


async def test_writer_is_visible_only_after_commit(store: BlobStore, backend: Backend) -> None:
    key = new_key()
    data = payload(PART_SIZE + MiB, seed=1)
    writer = await store.begin_write(key)
    async for chunk in chunks(data, MiB):
        await writer.write(chunk)
    await writer._drain()  # every byte handed to the backend, still not committed
    with pytest.raises(BlobNotFound):
        await store.size(key)
    assert key not in await keys_of(store)
    info = await writer.commit()
    assert info.size == len(data)
    assert await read_all(store, key) == data
    assert backend.temporaries() == 0


@pytest.mark.parametrize("size", [10, PART_SIZE + MiB])
async def test_abort_leaves_nothing(store: BlobStore, backend: Backend, size: int) -> None:
    key = new_key()
    writer = await store.begin_write(key)
    async for chunk in chunks(payload(size), MiB):
        await writer.write(chunk)
    await writer.abort()
    await writer.abort()  # safe twice
    with pytest.raises(BlobNotFound):
        await store.size(key)
    assert key not in await keys_of(store)
    assert backend.temporaries() == 0


async def test_failing_stream_leaves_nothing(store: BlobStore, backend: Backend) -> None:
    key = new_key()

    async def broken() -> AsyncIterator[bytes]:
        yield payload(PART_SIZE + MiB)
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        await store.put(key, broken())
    with pytest.raises(BlobNotFound):
        await store.size(key)
    assert backend.temporaries() == 0


async def test_discard_removes_a_key_s_unfinished_writes_and_blob_only(backend: Backend) -> None:
    """What the blob ledger's sweep calls once it owns a lapsed key: by key, never by age."""
    blobs = backend.make()
    await blobs.open()
    try:
        crashed_key, live_key, done_key = new_key(), new_key(), new_key()
        crashed = await blobs.begin_write(crashed_key)
        await crashed.write(payload(PART_SIZE + MiB))
        await crashed._drain()
        live = await blobs.begin_write(live_key)
        await live.write(payload(PART_SIZE + MiB, seed=2))
        await live._drain()
        await blobs.put(done_key, chunks(b"committed", 4))
        assert backend.temporaries() == 2
        listed = {key async for key, _ in blobs.list_temporaries()}
        assert listed == {crashed_key, live_key}
        await blobs.discard(crashed_key)
        assert backend.temporaries() == 1
        await blobs.discard(done_key)
        with pytest.raises(BlobNotFound):
            await blobs.size(done_key)
        info = await live.commit()  # another key's write is untouched
        assert await blobs.size(live_key) == info.size
        assert backend.temporaries() == 0
        await blobs.discard(new_key())  # nothing stored: not an error
    finally:
        await blobs.close()


async def test_ping(store: BlobStore) -> None:
    await store.ping()


# S3-specific: composition by copy, and startup errors naming settings ------------------------
@pytest.fixture
def s3_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    yield Backend(
        "s3",
        swift=request.getfixturevalue("swift_server"),
        bucket=request.getfixturevalue("s3_bucket"),
        prefix="t-" + uuid.uuid4().hex[:10],
    )


@pytest.mark.s3
async def test_s3_compose_by_copy_for_the_uploads_api(s3_backend: Backend) -> None:
    blobs = s3_backend.make()
    assert isinstance(blobs, S3BlobStore)
    await blobs.open()
    try:
        datas = [payload(5 * MiB, seed=1), payload(5 * MiB + 3, seed=2), payload(1000, seed=3)]
        keys = [new_key() for _ in datas]
        for key, data in zip(keys, datas, strict=True):
            await blobs.put(key, chunks(data, MiB))
        dest = new_key()
        assert await blobs.compose_by_copy(dest, keys) == sum(map(len, datas))
        assert await read_all(blobs, dest) == b"".join(datas)
        with pytest.raises(ValueError):
            await blobs.compose_by_copy(new_key(), [keys[2], keys[0]])  # small part first
        with pytest.raises(BlobNotFound):
            await blobs.compose_by_copy(new_key(), [keys[0], new_key()])
        assert s3_backend.temporaries() == 0
    finally:
        await blobs.close()


@pytest.mark.s3
@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"bucket": "no-such-bucket-here"}, "FILEDOCK_STORAGE_URL"),
        ({"secret": "wrong"}, "FILEDOCK_S3_SECRET_ACCESS_KEY"),
        ({"endpoint": "http://127.0.0.1:9"}, "FILEDOCK_S3_ENDPOINT_URL"),
    ],
)
async def test_s3_unusable_bucket_error_names_the_setting(
    s3_backend: Backend, change: dict[str, Any], names: str
) -> None:
    swift = s3_backend.swift
    assert swift is not None
    blobs = S3BlobStore(
        f"s3://{change.get('bucket', s3_backend.bucket)}/p",
        endpoint_url=change.get("endpoint", swift.endpoint),
        region=swift.region,
        access_key_id=swift.access_key,
        secret_access_key=change.get("secret", swift.secret_key),
        path_style=True,
    )
    try:
        with pytest.raises(StorageError, match=names):
            await blobs.open()
    finally:
        await blobs.close()


async def test_local_writer_survives_short_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stub: the kernel writes whole buffers to a local file in practice, so a short writev is
    # scripted here (at most 1000 bytes per call) to check the writer resumes at the right byte.
    real_writev = os.writev

    def short_writev(fd: int, buffers: list[memoryview]) -> int:
        first = next((b for b in buffers if len(b)), memoryview(b""))
        return real_writev(fd, [first[:1000]])

    monkeypatch.setattr("filedock.blobs.local.os.writev", short_writev)
    store = LocalBlobStore(tmp_path / "blobs")
    await store.open()
    data = payload(MiB + 4321, seed=23)
    info = await store.put(new_key(), chunks(data, 7000))
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert await read_all(store, info.key) == data
