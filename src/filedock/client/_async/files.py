"""`client.files` and `client.uploads`: the Files and Uploads APIs, with progress, chunked
parallel uploads (per-part retries) and streamed downloads."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from filedock.client._async.concurrency import AsyncTaskGroup, shielded, sleep, to_thread
from filedock.client._common import (
    TERMINAL_STATES,
    ProgressCallback,
    ProgressTracker,
    file_fields,
    multipart_frame,
    plan_parts,
    retryable_status,
    upload_body,
)
from filedock.client.errors import (
    APIConnectionError,
    APIStatusError,
    FiledockClientError,
    ProcessingTimeout,
    UploadCancelled,
)
from filedock.client.sources import CHUNK, FileInput, Source, open_source
from filedock.client.types import FileDeleted, FileList, FileObject, Upload

if TYPE_CHECKING:
    from filedock.client._async.client import AsyncFilesClient


class AsyncAPIResource:
    """One part of the client's API (`client.files`, `.uploads`, `.batches`), on its client."""

    def __init__(self, client: AsyncFilesClient) -> None:
        self._client = client


class AsyncFiles(AsyncAPIResource):
    """`client.files`: the Files API, plus progress, chunked uploads and streamed downloads."""

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
        with await to_thread(open_source, file) as source:
            size = source.size
            use_uploads = (
                chunked
                if chunked is not None
                else size is not None and size >= self._client.config.chunk_threshold
            )
            if use_uploads:
                upload = await self._client.uploads.upload_source(
                    source, purpose=purpose, expires_after=expires_after, progress=progress
                )
                assert upload.file is not None
                return upload.file
            return await self._create_direct(source, purpose, expires_after, progress)

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
        page = await self._client.list_page(
            "/files", purpose=purpose, limit=limit, order=order, after=after
        )
        return FileList.from_dict(page)

    async def list_all(
        self, *, purpose: str | None = None, order: str | None = None, page_size: int = 1000
    ) -> AsyncIterator[FileObject]:
        """Every file, following `after` while `has_more`."""
        async for data in self._client.list_every(
            "/files", purpose=purpose, limit=page_size, order=order
        ):
            yield FileObject.from_dict(data)

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


class AsyncUploads(AsyncAPIResource):
    """`client.uploads`: the Uploads API, and the whole chunked flow with per-part retries."""

    async def create(
        self,
        *,
        filename: str,
        purpose: str,
        bytes: int,
        mime_type: str,
        expires_after: Mapping[str, Any] | None = None,
    ) -> Upload:
        body = upload_body(filename, purpose, bytes, mime_type, expires_after)
        return Upload.from_dict(await self._client.request("POST", "/uploads", json=body))

    async def complete(
        self, upload_id: str, *, part_ids: list[str], md5: str | None = None
    ) -> Upload:
        body: dict[str, Any] = {"part_ids": part_ids}
        if md5 is not None:
            body["md5"] = md5
        return Upload.from_dict(
            await self._client.request("POST", f"/uploads/{upload_id}/complete", json=body)
        )

    async def cancel(self, upload_id: str) -> Upload:
        return Upload.from_dict(await self._client.action(f"/uploads/{upload_id}/cancel"))

    async def add_part(
        self,
        upload_id: str,
        source: Source,
        start: int,
        end: int,
        *,
        on_sent: Any = None,
        stopped: Callable[[], bool] | None = None,
    ) -> str:
        """Send bytes [start, end) of `source` as one part; returns the part id."""
        frame = multipart_frame([], "data", "blob", "application/octet-stream")

        async def body() -> AsyncIterator[bytes]:
            yield frame.head
            sent = 0
            async for block in iter_range(source, start, end):
                if stopped is not None and stopped():
                    raise UploadCancelled("upload stopped")
                yield block
                sent += len(block)
                if on_sent is not None:
                    on_sent(sent)
            yield frame.tail

        headers = {
            "Content-Type": frame.content_type,
            "Content-Length": str(frame.content_length(end - start)),
        }
        data = await self._client.request(
            "POST", f"/uploads/{upload_id}/parts", content=body(), headers=headers
        )
        return str(data["id"])

    async def _add_part_retrying(
        self,
        upload_id: str,
        source: Source,
        index: int,
        span: tuple[int, int],
        tracker: ProgressTracker,
        stopped: Callable[[], bool],
    ) -> str:
        attempts = self._client.config.part_retries + 1
        for attempt in range(attempts):
            try:
                return await self.add_part(
                    upload_id,
                    source,
                    *span,
                    on_sent=lambda n: tracker.update(index, n),
                    stopped=stopped,
                )
            except (APIConnectionError, APIStatusError) as exc:
                retry = isinstance(exc, APIConnectionError) or retryable_status(exc.status)
                if not retry or attempt == attempts - 1 or stopped():
                    raise
                # Only this part is sent again; the parts already stored stay.
                await sleep(min(0.25 * 2**attempt, 4.0))
        raise AssertionError("unreachable")

    async def upload_source(
        self,
        source: Source,
        *,
        purpose: str,
        expires_after: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Upload:
        """Create an Upload, send parts in parallel, complete with md5; cancel it on any failure."""
        size = source.size
        if size is None:
            raise FiledockClientError("chunked upload needs a file of known size")
        config = self._client.config
        spans = plan_parts(size, config.part_size)
        upload = await self.create(
            filename=source.name,
            purpose=purpose,
            bytes=size,
            mime_type=source.mime_type,
            expires_after=expires_after,
        )
        tracker = ProgressTracker(size, progress)
        part_ids: list[str] = [""] * len(spans)
        md5: list[str] = []

        try:
            tracker.start()
            # The parts, plus one task that hashes the whole file for `complete`'s md5.
            async with AsyncTaskGroup(config.max_parallel_parts + 1) as group:

                async def send(index: int, span: tuple[int, int]) -> None:
                    part_ids[index] = await self._add_part_retrying(
                        upload.id, source, index, span, tracker, lambda: group.stopped
                    )

                async def digest() -> None:
                    h = hashlib.md5(usedforsecurity=False)
                    async for block in iter_all(source):
                        if group.stopped:
                            raise UploadCancelled("upload stopped")
                        h.update(block)
                    md5.append(h.hexdigest())

                group.start_soon(digest)
                for i, span in enumerate(spans):
                    group.start_soon(send, i, span)
            completed = await self.complete(upload.id, part_ids=part_ids, md5=md5[0])
            tracker.finish()
            return completed
        except BaseException:
            with shielded(), contextlib.suppress(FiledockClientError):
                await self.cancel(upload.id)
            raise

    async def upload_file_chunked(
        self,
        *,
        file: FileInput,
        purpose: str,
        expires_after: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Upload:
        """The whole chunked flow for a path, bytes or open file; returns the completed Upload."""
        with await to_thread(open_source, file) as source:
            return await self.upload_source(
                source, purpose=purpose, expires_after=expires_after, progress=progress
            )


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
