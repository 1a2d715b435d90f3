"""Blobs as files under one folder: temp name, fsync, rename (the blob ledger says which are alive).

A composed blob (BlobStore.compose, the Uploads API) is a folder of hard links to its parts,
named in order: no byte is copied, and the parts stay deletable on their own. Where hard links
are impossible it is a plain file filled in the kernel (copy_file_range, else sendfile).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from collections.abc import AsyncIterator, Iterable, Sequence
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


# Most buffers one writev call takes.
IOV_MAX = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024
# Largest count handed to one copy_file_range/sendfile call (the kernel caps it near 2 GiB).
COPY_CHUNK = 1 << 30
# Errors after which copy_file_range is given up for sendfile (old kernels, odd filesystems).
_NO_COPY_FILE_RANGE = {errno.ENOSYS, errno.EXDEV, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM}


def _publish_durably(fd: int, temp: Path, final: Path) -> None:
    """Make `temp` (open as `fd`: a file or a folder of links) durable, rename it to `final`,
    then make the rename durable."""
    os.fsync(fd)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.rename(temp, final)
    _fsync_dir(final.parent)


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

    def _write_block(self, block: bytes) -> None:
        self._write_views([memoryview(block)])

    def _write_views(self, views: list[memoryview]) -> None:
        # One writev per block of received chunks: no join, no copy in Python.
        try:
            while views:
                batch = views[:IOV_MAX]
                written = os.writev(self._fd, batch)
                views = views[len(batch) :]
                # A short write (rare for files): put back what was not written, in order.
                unwritten = sum(len(v) for v in batch) - written
                if unwritten:
                    rest = []
                    for view in reversed(batch):
                        if unwritten <= 0:
                            break
                        take = min(len(view), unwritten)
                        rest.append(view[len(view) - take :])
                        unwritten -= take
                    views = rest[::-1] + views
        except OSError as exc:
            raise StorageError(f"Could not write file bytes: {exc.strerror}") from exc

    def _publish(self) -> None:
        try:
            _publish_durably(self._fd, self._temp_path, self._final_path)
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


# Errors of os.link that mean "no hard links here": compose copies instead.
_NO_HARD_LINKS = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.EOPNOTSUPP, errno.ENOSYS}


class _HardLinksUnsupported(Exception):
    pass


def _stamped(entries: Iterable[os.DirEntry[str]]) -> list[tuple[str, float]]:
    """(name, mtime) of each entry still there when it is looked at."""
    found: list[tuple[str, float]] = []
    for entry in entries:
        with contextlib.suppress(FileNotFoundError):
            found.append((entry.name, entry.stat().st_mtime))
    return found


def _remove_tree_or_file(path: str | Path) -> None:
    """Remove a blob or temporary, whether a plain file or a composed folder."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        shutil.rmtree(path, ignore_errors=True)


class LocalBlobStore(BlobStore):
    """Blobs in `<root>/blobs/<2 hex>/<key>`, in-progress writes in `<root>/tmp`.

    A blob is a file, or (composed with `link_parts`) a folder whose files, in name order, are
    hard links to the parts; every read path handles both.
    """

    def __init__(self, root: Path, *, link_parts: bool = True) -> None:
        self.root = Path(root)
        self._blobs = self.root / "blobs"
        self._tmp = self.root / "tmp"
        self.link_parts = link_parts

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

    def _segments(self, key: str) -> list[tuple[Path, int]]:
        """The files holding a blob's bytes, in order, with their sizes (blocking)."""
        path = self.path_of(key)
        try:
            info = os.stat(path)
            if not stat.S_ISDIR(info.st_mode):
                return [(path, info.st_size)]
            names = sorted(os.listdir(path))
            return [(path / name, os.stat(path / name).st_size) for name in names]
        except FileNotFoundError as exc:
            raise BlobNotFound(f"Blob {key} is missing") from exc

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        segments = await anyio.to_thread.run_sync(self._segments, key)
        if end is None:
            end = sum(size for _, size in segments)
        segment_start = 0
        for path, size in segments:
            segment_end = segment_start + size
            if segment_end > start and segment_start < end:
                try:
                    fd = await anyio.to_thread.run_sync(os.open, path, os.O_RDONLY)
                except FileNotFoundError as exc:
                    raise BlobNotFound(f"Blob {key} is missing") from exc
                try:
                    offset = max(start, segment_start) - segment_start
                    stop = min(end, segment_end) - segment_start
                    while offset < stop:
                        chunk = await anyio.to_thread.run_sync(
                            os.pread, fd, min(READ_CHUNK, stop - offset), offset
                        )
                        if not chunk:
                            break
                        offset += len(chunk)
                        yield chunk
                finally:
                    os.close(fd)
            segment_start = segment_end
            if segment_start >= end:
                break

    async def size(self, key: str) -> int:
        segments = await anyio.to_thread.run_sync(self._segments, key)
        return sum(size for _, size in segments)

    async def delete(self, key: str) -> None:
        path = self.path_of(key)
        await anyio.to_thread.run_sync(_remove_tree_or_file, path)

    async def list_keys(self) -> AsyncIterator[tuple[str, float]]:
        def scan() -> list[tuple[str, float]]:
            if not self._blobs.exists():
                return []
            shards = [shard.path for shard in os.scandir(self._blobs) if shard.is_dir()]
            return [item for shard in shards for item in _stamped(os.scandir(shard))]

        for item in await anyio.to_thread.run_sync(scan):
            yield item

    async def list_temporaries(self) -> AsyncIterator[tuple[str, float]]:
        def scan() -> list[tuple[str, float]]:
            if not self._tmp.exists():
                return []
            entries = (e for e in os.scandir(self._tmp) if not e.name.startswith("."))
            return [(name.split(".", 1)[0], mtime) for name, mtime in _stamped(entries)]

        for item in await anyio.to_thread.run_sync(scan):
            yield item

    async def discard(self, key: str) -> None:
        final = self.path_of(key)

        def remove() -> None:
            # Temporaries are named `<key>.<random>.part|compose` (see begin_write, compose).
            for temp in self._tmp.glob(f"{key}.*"):
                _remove_tree_or_file(temp)
            _remove_tree_or_file(final)

        await anyio.to_thread.run_sync(remove)

    async def compose(self, dest_key: str, part_keys: Sequence[str]) -> BlobInfo:
        """Hard-link the parts, in order, into a new folder (no byte copied); where hard links
        are impossible (or `link_parts` is off), concatenate them into one file in the kernel.
        Either way: built under a temporary name, fsync'd, renamed into place.
        """
        final = self.path_of(dest_key)
        paths = [self.path_of(key) for key in part_keys]
        try:
            if self.link_parts:
                try:
                    size = await anyio.to_thread.run_sync(
                        self._compose_links, dest_key, part_keys, paths, final
                    )
                    return BlobInfo(dest_key, size, "")
                except _HardLinksUnsupported:
                    pass
            size = await anyio.to_thread.run_sync(
                self._compose_copy, dest_key, part_keys, paths, final
            )
        except OSError as exc:
            raise StorageError(f"Could not compose file bytes: {exc.strerror}") from exc
        return BlobInfo(dest_key, size, "")

    def _compose_links(
        self, dest_key: str, part_keys: Sequence[str], paths: list[Path], final: Path
    ) -> int:
        temp = self._tmp / f"{dest_key}.{secrets.token_hex(4)}.compose"
        os.mkdir(temp, 0o700)
        fd = os.open(temp, os.O_RDONLY | os.O_DIRECTORY)
        try:
            total = 0
            for index, (key, path) in enumerate(zip(part_keys, paths, strict=True)):
                segment = temp / f"{index:08d}"
                try:
                    os.link(path, segment)
                except FileNotFoundError as exc:
                    raise BlobNotFound(f"Blob {key} is missing") from exc
                except OSError as exc:
                    if exc.errno in _NO_HARD_LINKS:
                        raise _HardLinksUnsupported from exc
                    raise
                total += os.stat(segment).st_size
            # The parts' bytes are durable already; make the links durable, then publish.
            _publish_durably(fd, temp, final)
            return total
        except BaseException:
            shutil.rmtree(temp, ignore_errors=True)
            raise
        finally:
            os.close(fd)

    def _compose_copy(
        self, dest_key: str, part_keys: Sequence[str], paths: list[Path], final: Path
    ) -> int:
        temp = self._tmp / f"{dest_key}.{secrets.token_hex(4)}.part"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
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
            _publish_durably(fd, temp, final)
            return total
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        finally:
            os.close(fd)

    async def ping(self) -> None:
        def check() -> None:
            probe = self._tmp / f".ping-{secrets.token_hex(4)}"
            probe.write_bytes(b"")
            probe.unlink()

        try:
            await anyio.to_thread.run_sync(check)
        except OSError as exc:
            raise StorageError(f"Blob folder {self.root} is not writable: {exc.strerror}") from exc
