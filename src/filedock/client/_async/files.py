"""`client.files`: the Files API, with progress, chunked uploads and streamed downloads."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from filedock.client._async.concurrency import sleep, to_thread
from filedock.client._common import (
    TERMINAL_STATES,
    ProgressCallback,
    ProgressTracker,
    file_fields,
    multipart_frame,
)
from filedock.client.errors import (
    FiledockClientError,
    ProcessingTimeout,
)
from filedock.client.sources import CHUNK, FileInput, Source, open_source
from filedock.client.types import FileDeleted, FileList, FileObject

if TYPE_CHECKING:
    from filedock.client._async.client import AsyncFilesClient

from filedock.client._async.streams import iter_all


class AsyncFiles:
    """`client.files`: the Files API, plus progress, chunked uploads and streamed downloads."""

    def __init__(self, client: AsyncFilesClient) -> None:
        self._client = client

    async def create(
        self,
        *,
        file: FileInput,
        purpose: str,
        expires_after: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        chunked: bool | None = None,
    ) -> FileObject:
        """Upload a file. `chunked=None` picks the Uploads API when the file is big enough."""
        source = await to_thread(open_source, file)
        try:
            size = source.size
            use_uploads = (
                chunked
                if chunked is not None
                else size is not None and size >= self._client.config.chunk_threshold
            )
            if use_uploads:
                if size is None:
                    raise FiledockClientError("chunked upload needs a file of known size")
                upload = await self._client.uploads.upload_source(
                    source, purpose=purpose, expires_after=expires_after, progress=progress
                )
                assert upload.file is not None
                return upload.file
            return await self._create_direct(source, purpose, expires_after, progress)
        finally:
            source.close()

    async def _create_direct(
        self,
        source: Source,
        purpose: str,
        expires_after: Mapping[str, Any] | None,
        progress: ProgressCallback | None,
    ) -> FileObject:
        frame = multipart_frame(
            file_fields(purpose, expires_after), "file", source.name, source.mime_type
        )
        tracker = ProgressTracker(source.size, progress)

        async def body() -> AsyncIterator[bytes]:
            yield frame.head
            sent = 0
            async for block in iter_all(source):
                yield block
                sent += len(block)
                tracker.update(0, sent)
            yield frame.tail

        headers = {"Content-Type": frame.content_type}
        if source.size is not None:
            headers["Content-Length"] = str(frame.content_length(source.size))
        tracker.start()
        data = await self._client.request("POST", "/files", content=body(), headers=headers)
        tracker.finish()
        return FileObject.from_dict(data)

    async def list(
        self,
        *,
        purpose: str | None = None,
        limit: int | None = None,
        order: str | None = None,
        after: str | None = None,
    ) -> FileList:
        """One page of the listing."""
        params = {
            k: v
            for k, v in {"purpose": purpose, "limit": limit, "order": order, "after": after}.items()
            if v is not None
        }
        return FileList.from_dict(await self._client.request("GET", "/files", params=params))

    async def list_all(
        self, *, purpose: str | None = None, order: str | None = None, page_size: int = 1000
    ) -> AsyncIterator[FileObject]:
        """Every file, following `after` while `has_more`."""
        after: str | None = None
        while True:
            page = await self.list(purpose=purpose, limit=page_size, order=order, after=after)
            for f in page.data:
                yield f
            if not page.has_more or not page.data:
                return
            after = page.data[-1].id

    async def retrieve(self, file_id: str) -> FileObject:
        return FileObject.from_dict(await self._client.request("GET", f"/files/{file_id}"))

    async def delete(self, file_id: str) -> FileDeleted:
        return FileDeleted.from_dict(await self._client.request("DELETE", f"/files/{file_id}"))

    async def content(self, file_id: str) -> bytes:
        """The whole content in memory (for small files; use `download` for big ones)."""
        async with self._client.stream(
            "GET", f"/files/{file_id}/content", {"Accept": "application/binary"}
        ) as response:
            return await response.aread()

    async def download(
        self,
        file_id: str,
        path: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """Stream the content to `path` (written to a temporary name, then renamed)."""
        target = Path(path)
        async with self._client.stream(
            "GET", f"/files/{file_id}/content", {"Accept": "application/binary"}
        ) as response:
            length = response.headers.get("content-length")
            tracker = ProgressTracker(int(length) if length else None, progress)
            fd, tmp = await to_thread(tempfile.mkstemp, None, ".filedock-", target.parent or ".")
            out: IO[bytes] = os.fdopen(fd, "wb")
            try:
                tracker.start()
                received = 0
                async for block in response.aiter_bytes(CHUNK):
                    await to_thread(out.write, block)
                    received += len(block)
                    tracker.update(0, received)
                await to_thread(out.close)
                await to_thread(os.replace, tmp, target)
            except BaseException:
                out.close()
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            tracker.finish()
        return target

    async def wait_for_processing(
        self, id: str, *, poll_interval: float = 5.0, max_wait_seconds: float = 30 * 60
    ) -> FileObject:
        """Retrieve until the status is processed, error or deleted (as the official SDK does)."""
        start = time.monotonic()
        file = await self.retrieve(id)
        while file.status not in TERMINAL_STATES:
            if time.monotonic() - start > max_wait_seconds:
                raise ProcessingTimeout(
                    f"Giving up on waiting for file {id} to finish processing after "
                    f"{max_wait_seconds} seconds."
                )
            await sleep(poll_interval)
            file = await self.retrieve(id)
        return file

    async def report(self, file_id: str) -> dict[str, Any]:
        """The validation report (filedock's extension `GET /files/{id}/report`)."""
        data: dict[str, Any] = await self._client.request("GET", f"/files/{file_id}/report")
        return data
