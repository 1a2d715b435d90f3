"""The blob store interface: stream bytes in (hashed, atomic), read ranges out, delete, stat."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import anyio.to_thread

# Bytes are handed to the writer thread in blocks of at least this size: large enough that thread
# hand-offs are rare, small enough that memory per upload stays bounded (two blocks in flight).
WRITE_BLOCK = 1024 * 1024
READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class BlobInfo:
    """What a committed blob is: its key, size and sha256 (hex)."""

    key: str
    size: int
    sha256: str


class BlobWriter(abc.ABC):
    """Receives an upload's bytes; nothing is visible under `key` until `commit()`.

    Bytes are gathered into blocks without copying (references to the received chunks, which
    are immutable); each block is hashed and written by a worker thread while the event loop
    goes on receiving the next block, so hashing and disk writes overlap the network.
    """

    def __init__(self, key: str) -> None:
        self.key = key
        self.size = 0
        self._hash = hashlib.sha256()
        self._views: list[memoryview] = []
        self._gathered = 0
        self._in_flight: asyncio.Future[None] | None = None
        self._closed = False

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes; returns once they are gathered or handed to the writer thread.

        The caller must not change `data` afterwards (bytes never change; a writable buffer
        is copied here).
        """
        view = memoryview(data)
        if not view.readonly:
            view = memoryview(bytes(view))
        self.size += len(view)
        self._views.append(view)
        self._gathered += len(view)
        if self._gathered >= WRITE_BLOCK:
            views, self._views, self._gathered = self._views, [], 0
            await self._hand_off(views)

    async def _hand_off(self, views: list[memoryview]) -> None:
        if self._in_flight is not None:
            await self._in_flight
        loop = asyncio.get_running_loop()
        self._in_flight = loop.run_in_executor(None, self._consume_block, views)

    def _consume_block(self, views: list[memoryview]) -> None:
        update = self._hash.update
        for view in views:
            update(view)
        self._write_views(views)

    def _write_views(self, views: list[memoryview]) -> None:
        """Write one block given as consecutive views (runs in a worker thread); backends that
        can write a list of buffers at once override this to avoid the join."""
        self._write_block(b"".join(views))

    async def _drain(self) -> None:
        if self._views:
            views, self._views, self._gathered = self._views, [], 0
            await self._hand_off(views)
        if self._in_flight is not None:
            await self._in_flight
            self._in_flight = None

    async def commit(self) -> BlobInfo:
        """Flush, make durable and publish under `key`."""
        await self._drain()
        await anyio.to_thread.run_sync(self._publish)
        self._closed = True
        return BlobInfo(self.key, self.size, self._hash.hexdigest())

    async def abort(self) -> None:
        """Drop everything written so far. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        if self._in_flight is not None:
            with contextlib.suppress(Exception):  # aborting anyway
                await self._in_flight
            self._in_flight = None
        await anyio.to_thread.run_sync(self._discard)

    @abc.abstractmethod
    def _write_block(self, block: bytes) -> None:
        """Write one block (runs in a worker thread)."""

    @abc.abstractmethod
    def _publish(self) -> None:
        """Make the bytes durable and visible under the key (runs in a worker thread)."""

    @abc.abstractmethod
    def _discard(self) -> None:
        """Remove the temporary bytes (runs in a worker thread)."""


class BlobStore(abc.ABC):
    """Owns bytes. Keys are opaque strings chosen by the service, never client file names."""

    async def open(self) -> None:
        """Prepare the store (create folders, check the bucket)."""

    async def close(self) -> None:
        """Release resources."""

    @abc.abstractmethod
    async def begin_write(self, key: str) -> BlobWriter:
        """Start writing a new blob under `key`."""

    async def put(self, key: str, chunks: AsyncIterator[bytes]) -> BlobInfo:
        """Write a whole stream as one blob; nothing remains if the stream fails."""
        writer = await self.begin_write(key)
        try:
            async for chunk in chunks:
                await writer.write(chunk)
            return await writer.commit()
        except BaseException:
            await writer.abort()
            raise

    @abc.abstractmethod
    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Stream bytes `start`..`end` (exclusive; None = to the end). Raises BlobNotFound."""

    @abc.abstractmethod
    async def size(self, key: str) -> int:
        """Size in bytes. Raises BlobNotFound."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Remove a blob; deleting a missing blob is not an error."""

    @abc.abstractmethod
    def list_keys(self) -> AsyncIterator[tuple[str, float]]:
        """Every committed blob as (key, modification time as a Unix timestamp)."""

    @abc.abstractmethod
    def list_temporaries(self) -> AsyncIterator[tuple[str, float]]:
        """Unfinished writes (temporary files, S3 multipart uploads) as (key, start time)."""

    @abc.abstractmethod
    async def discard(self, key: str) -> None:
        """Remove everything stored for `key`: the committed blob and any unfinished write of
        it. For the blob ledger's sweep: the caller has established that nobody writes `key`
        any more (its lease lapsed and was claimed), never by age."""

    async def ping(self) -> None:
        """Raise StorageError when the store cannot be reached."""

    @abc.abstractmethod
    async def compose(self, dest_key: str, part_keys: Sequence[str]) -> BlobInfo:
        """Create blob `dest_key` whose bytes are the blobs `part_keys` concatenated in order.

        Contract (every backend):
        - Server-side where the backend allows it: local disk links (or copies in the kernel);
          S3 builds a multipart upload of `dest_key` with UploadPartCopy, one copy part per
          entry. S3 requires every copy part but the last to be >= 5 MiB, so with smaller parts
          the S3 store streams the parts through a bounded buffer instead (constant memory).
        - Atomic and durable like a write: `dest_key` is invisible until it is complete, and
          when this returns it survives a crash. On any failure nothing remains under
          `dest_key` (an interrupted attempt may leave a temporary that `discard(dest_key)`
          removes: the caller records an intent for `dest_key` first).
        - The parts are read, never changed or deleted: the caller deletes them once it has
          recorded the composed blob. A key may appear more than once; no parts gives an
          empty blob. `dest_key` must be a new key.
        - Raises BlobNotFound if a part is missing, StorageError for any other failure.
        - The returned BlobInfo has the composed `size`; its `sha256` is the empty string:
          compose never reads the bytes, so it cannot hash them. A caller that needs a digest
          derives one from what it recorded for the parts.
        """
