"""Blocks of a local source, read in worker threads (the async source of client/_sync/)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from filedock.client._async.concurrency import to_thread
from filedock.client.sources import CHUNK, Source


async def iter_range(source: Source, start: int, end: int) -> AsyncIterator[bytes]:
    offset = start
    while offset < end:
        block = await to_thread(source.read_at, offset, min(CHUNK, end - offset))
        if not block:
            raise OSError(f"{source.name}: file ended at byte {offset}, expected {end}")
        offset += len(block)
        yield block


async def iter_all(source: Source) -> AsyncIterator[bytes]:
    if source.size is not None:
        async for block in iter_range(source, 0, source.size):
            yield block
        return
    stream = source.iter_all()
    while block := await to_thread(next, stream, b""):
        yield block
