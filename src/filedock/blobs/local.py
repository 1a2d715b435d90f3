"""Blobs as files under one folder: temp name, fsync, rename; flock marks writes in progress."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anyio.to_thread

from filedock.blobs.base import READ_CHUNK, BlobInfo, BlobStore, BlobWriter
from filedock.errors import BlobNotFound, StorageError


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Largest count handed to one copy_file_range/sendfile call (the kernel caps it near 2 GiB).
COPY_CHUNK = 1 << 30
# Errors after which copy_file_range is given up for sendfile (old kernels, odd filesystems).
_NO_COPY_FILE_RANGE = {errno.ENOSYS, errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}


def _copy_into(src_fd: int, dst_fd: int, count: int, use_copy_file_range: bool) -> bool:
    """Append `count` bytes of `src_fd` (from offset 0) at `dst_fd`'s position, in the kernel.

    Returns whether copy_file_range is still usable (False once it failed and sendfile took
    over). Both calls advance `dst_fd`'s position and leave the source offset alone.
    """
    offset = 0
    while offset < count:
        want = min(count - offset, COPY_CHUNK)
        if use_copy_file_range:
            try:
                done = os.copy_file_range(src_fd, dst_fd, want, offset)
            except OSError as exc:
                if exc.errno not in _NO_COPY_FILE_RANGE or offset:
                    raise
                use_copy_file_range = False
                continue
        else:
            done = os.sendfile(dst_fd, src_fd, offset, want)
        if done == 0:
            raise StorageError("Could not compose blob: a part ended early")
        offset += done
    return use_copy_file_range


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

    async def compose(self, dest_key: str, part_keys: Sequence[str]) -> BlobInfo:
        """Concatenate parts with copy_file_range (sendfile as fallback) into a temporary,
        fsync, rename: the same atomic commit as a write, with the bytes staying in the kernel.
        """
        final = self.path_of(dest_key)
        paths = [self.path_of(key) for key in part_keys]
        temp = self._tmp / f"{dest_key}.{secrets.token_hex(4)}.part"

        def run() -> int:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            # Same lock as a write: startup recovery leaves a live composition alone.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                total = 0
                use_cfr = True
                for key, path in zip(part_keys, paths, strict=True):
                    try:
                        src = os.open(path, os.O_RDONLY)
                    except FileNotFoundError as exc:
                        raise BlobNotFound(f"Blob {key} is missing") from exc
                    try:
                        size = os.fstat(src).st_size
                        use_cfr = _copy_into(src, fd, size, use_cfr)
                        total += size
                    finally:
                        os.close(src)
                os.fsync(fd)
                final.parent.mkdir(parents=True, exist_ok=True)
                os.rename(temp, final)
                _fsync_dir(final.parent)
                return total
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)
                raise
            finally:
                os.close(fd)

        try:
            size = await anyio.to_thread.run_sync(run)
        except OSError as exc:
            raise StorageError(f"Could not compose file bytes: {exc.strerror}") from exc
        return BlobInfo(dest_key, size, "")

    async def ping(self) -> None:
        def check() -> None:
            probe = self._tmp / f".ping-{secrets.token_hex(4)}"
            probe.write_bytes(b"")
            probe.unlink()

        try:
            await anyio.to_thread.run_sync(check)
        except OSError as exc:
            raise StorageError(f"Blob folder {self.root} is not writable: {exc.strerror}") from exc
