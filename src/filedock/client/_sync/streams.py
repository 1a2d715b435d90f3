# GENERATED from src/filedock/client/_async/streams.py by scripts/gen_sync_client.py: do not edit.
"""Blocks of a local source, read in worker threads (the async source of client/_sync/)."""

from __future__ import annotations

from collections.abc import Iterator

from filedock.client._sync.concurrency import to_thread
from filedock.client.sources import CHUNK, Source


def iter_range(source: Source, start: int, end: int) -> Iterator[bytes]:
    offset = start
    while offset < end:
        block = to_thread(source.read_at, offset, min(CHUNK, end - offset))
        if not block:
            raise OSError(f"{source.name}: file ended at byte {offset}, expected {end}")
        offset += len(block)
        yield block


def iter_all(source: Source) -> Iterator[bytes]:
    if source.size is not None:
        for block in iter_range(source, 0, source.size):
            yield block
        return
    stream = source.iter_all()
    while block := to_thread(next, stream, b""):
        yield block
