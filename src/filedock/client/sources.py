"""What can be uploaded: a path, bytes, an open binary file or a `(name, content[, mime])` tuple.

A Source reads ranges on demand (several parts may read at once from worker threads), so no upload
ever holds more than one chunk per request in memory.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from filedock.media_types import media_type

FileContent = bytes | IO[bytes] | os.PathLike[str] | str
FileInput = FileContent | tuple[str, FileContent] | tuple[str, FileContent, str]

CHUNK = 1024 * 1024
# OpenAI's documented MIME types for the extensions its purposes use most.
_EXTRA_TYPES = {".jsonl": "text/jsonl", ".md": "text/markdown", ".ts": "text/typescript"}


def guess_mime_type(filename: str) -> str:
    return media_type(filename, _EXTRA_TYPES)


class Source:
    """A readable upload body of known (or, for pipes, unknown) size."""

    def __init__(
        self,
        name: str,
        *,
        data: memoryview | None = None,
        fileobj: IO[bytes] | None = None,
        owned: bool = False,
        mime_type: str | None = None,
    ) -> None:
        self.name = name
        self.mime_type = mime_type or guess_mime_type(name)
        self._data = data
        self._file = fileobj
        self._owned = owned
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._base = 0
        self.size: int | None = None
        if data is not None:
            self.size = len(data)
        elif fileobj is not None:
            self._probe(fileobj)

    def _probe(self, f: IO[bytes]) -> None:
        try:
            seekable = f.seekable()
        except (AttributeError, ValueError):
            seekable = False
        if not seekable:
            return
        self._base = f.tell()
        end = f.seek(0, io.SEEK_END)
        f.seek(self._base)
        self.size = end - self._base
        try:
            fd = f.fileno()
        except (AttributeError, OSError, io.UnsupportedOperation):
            fd = None
        # pread does not move the shared position, so parallel parts need no lock.
        if fd is not None and hasattr(os, "pread"):
            self._fd = fd

    @property
    def random_access(self) -> bool:
        return self.size is not None

    def read_at(self, offset: int, length: int) -> bytes:
        """Up to `length` bytes from `offset` (thread-safe)."""
        if self._data is not None:
            return bytes(self._data[offset : offset + length])
        if self._fd is not None:
            return os.pread(self._fd, length, self._base + offset)
        assert self._file is not None and self.size is not None
        with self._lock:
            self._file.seek(self._base + offset)
            return self._file.read(length)

    def iter_range(self, start: int, end: int, chunk: int = CHUNK) -> Iterator[bytes]:
        """The bytes of [start, end) in chunks; stops early if the file shrank."""
        offset = start
        while offset < end:
            block = self.read_at(offset, min(chunk, end - offset))
            if not block:
                raise OSError(f"{self.name}: file ended at byte {offset}, expected {end}")
            offset += len(block)
            yield block

    def iter_all(self, chunk: int = CHUNK) -> Iterator[bytes]:
        if self.size is not None:
            yield from self.iter_range(0, self.size, chunk)
            return
        assert self._file is not None
        while block := self._file.read(chunk):
            yield block

    def close(self) -> None:
        if self._owned and self._file is not None:
            self._file.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(file: Any) -> Source:
    """Normalise what the SDK accepts as `file` (plus a plain path string) into a Source."""
    name: str | None = None
    mime: str | None = None
    content = file
    if isinstance(file, tuple):
        if len(file) not in (2, 3):
            raise TypeError("file tuple must be (name, content) or (name, content, mime_type)")
        name, content = file[0], file[1]
        mime = file[2] if len(file) == 3 else None
    if isinstance(content, bytes | bytearray | memoryview):
        return Source(name or "upload", data=memoryview(bytes(content)), mime_type=mime)
    if isinstance(content, str | os.PathLike):
        path = Path(content)
        return Source(name or path.name, fileobj=path.open("rb"), owned=True, mime_type=mime)
    if hasattr(content, "read"):
        if name is None:
            raw_name = getattr(content, "name", None)
            name = os.path.basename(raw_name) if isinstance(raw_name, str) else "upload"
        return Source(name, fileobj=content, mime_type=mime)
    raise TypeError(f"cannot upload an object of type {type(content).__name__}")
