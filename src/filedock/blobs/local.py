"""Blobs as files under one folder: temp name, fsync, rename; flock marks writes in progress."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import anyio.to_thread

from filedock.blobs.base import READ_CHUNK, BlobStore, BlobWriter
from filedock.errors import BlobNotFound, StorageError


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobWriter(BlobWriter):
    def __init__(self, key: str, temp_path: Path, final_path: Path) -> None:
        super().__init__(key)
        self._temp_path = temp_path
        self._final_path = final_path
        self._fd = os.open(temp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        # The lock tells startup recovery (in this or another process) that the write is alive.
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _write_block(self, block: bytes) -> None:
        view = memoryview(block)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError as exc:
            raise StorageError(f"Could not write file bytes: {exc.strerror}") from exc

    def _publish(self) -> None:
        try:
            os.fsync(self._fd)
            self._final_path.parent.mkdir(parents=True, exist_ok=True)
            os.rename(self._temp_path, self._final_path)
            _fsync_dir(self._final_path.parent)
        except OSError as exc:
            self._discard()
            raise StorageError(f"Could not store file bytes: {exc.strerror}") from exc
        finally:
            self._close_fd()

    def _discard(self) -> None:
        self._close_fd()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._temp_path)

    def _close_fd(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class LocalBlobStore(BlobStore):
    """Blobs in `<root>/blobs/<2 hex>/<key>`, in-progress writes in `<root>/tmp`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._blobs = self.root / "blobs"
        self._tmp = self.root / "tmp"

    async def open(self) -> None:
        def make() -> None:
            self._blobs.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(parents=True, exist_ok=True)

        try:
            await anyio.to_thread.run_sync(make)
        except OSError as exc:
            raise StorageError(f"Cannot use blob folder {self.root}: {exc.strerror}") from exc

    def path_of(self, key: str) -> Path:
        if not key or "/" in key or key.startswith("."):
            raise BlobNotFound(f"Invalid blob key: {key!r}")
        return self._blobs / key[:2] / key

    async def begin_write(self, key: str) -> BlobWriter:
        temp = self._tmp / f"{key}.{secrets.token_hex(4)}.part"
        final = self.path_of(key)
        return await anyio.to_thread.run_sync(LocalBlobWriter, key, temp, final)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self.path_of(key)
        try:
            fd = await anyio.to_thread.run_sync(os.open, path, os.O_RDONLY)
        except FileNotFoundError as exc:
            raise BlobNotFound(f"Blob {key} is missing") from exc
        try:
            if end is None:
                end = os.fstat(fd).st_size
            offset = start
            while offset < end:
                chunk = await anyio.to_thread.run_sync(
                    os.pread, fd, min(READ_CHUNK, end - offset), offset
                )
                if not chunk:
                    break
                offset += len(chunk)
                yield chunk
        finally:
            os.close(fd)

    async def size(self, key: str) -> int:
        try:
            return (await anyio.to_thread.run_sync(os.stat, self.path_of(key))).st_size
        except FileNotFoundError as exc:
            raise BlobNotFound(f"Blob {key} is missing") from exc

    async def delete(self, key: str) -> None:
        def remove() -> None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path_of(key))

        await anyio.to_thread.run_sync(remove)

    async def list_keys(self) -> AsyncIterator[tuple[str, float]]:
        def scan() -> list[tuple[str, float]]:
            found: list[tuple[str, float]] = []
            if not self._blobs.exists():
                return found
            for shard in os.scandir(self._blobs):
                if not shard.is_dir():
                    continue
                for entry in os.scandir(shard.path):
                    with contextlib.suppress(FileNotFoundError):
                        found.append((entry.name, entry.stat().st_mtime))
            return found

        for item in await anyio.to_thread.run_sync(scan):
            yield item

    async def remove_abandoned_temporaries(self) -> int:
        def sweep() -> int:
            removed = 0
            if not self._tmp.exists():
                return 0
            for entry in os.scandir(self._tmp):
                try:
                    fd = os.open(entry.path, os.O_RDONLY)
                except FileNotFoundError:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError as exc:
                    if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                        continue  # a live writer holds it
                    raise
                else:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                    removed += 1
                finally:
                    os.close(fd)
            return removed

        return await anyio.to_thread.run_sync(sweep)

    async def ping(self) -> None:
        def check() -> None:
            probe = self._tmp / f".ping-{secrets.token_hex(4)}"
            probe.write_bytes(b"")
            probe.unlink()

        try:
            await anyio.to_thread.run_sync(check)
        except OSError as exc:
            raise StorageError(f"Blob folder {self.root} is not writable: {exc.strerror}") from exc
