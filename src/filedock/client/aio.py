"""The asynchronous client: `await AsyncFilesClient().files.create(...)`, on httpx and anyio.

File reads and writes run in worker threads so the caller's event loop never blocks on disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import IO, Any

import anyio
import anyio.to_thread
import httpx

from filedock.client._common import (
    DEFAULT_CHUNK_THRESHOLD,
    DEFAULT_PARALLEL_PARTS,
    DEFAULT_PART_RETRIES,
    DEFAULT_PART_SIZE,
    TERMINAL_STATES,
    ClientConfig,
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
    error_from_response,
)
from filedock.client.sources import CHUNK, FileInput, Source, open_source
from filedock.client.types import Batch, BatchList, FileDeleted, FileList, FileObject, Upload


class AsyncFilesClient:
    """The async twin of `FilesClient`, with the same arguments and methods (awaitable)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        chunk_threshold: int = DEFAULT_CHUNK_THRESHOLD,
        part_size: int = DEFAULT_PART_SIZE,
        max_parallel_parts: int = DEFAULT_PARALLEL_PARTS,
        part_retries: int = DEFAULT_PART_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = ClientConfig.resolve(
            base_url,
            api_key,
            chunk_threshold=chunk_threshold,
            part_size=part_size,
            max_parallel_parts=max_parallel_parts,
            part_retries=part_retries,
        )
        self._http = httpx.AsyncClient(
            base_url=self.config.base_url,
            headers=self.config.headers(),
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
            limits=httpx.Limits(max_connections=max(10, max_parallel_parts + 2)),
        )
        self.files = AsyncFiles(self)
        self.uploads = AsyncUploads(self)
        self.batches = AsyncBatches(self)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncFilesClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request; return the parsed JSON body or raise a typed error."""
        try:
            response = await self._http.request(
                method, path, json=json, params=params, content=content, headers=headers
            )
        except httpx.TransportError as exc:
            raise APIConnectionError(f"{method} {path}: {exc}") from exc
        if response.status_code >= 400:
            raise error_from_response(response, response.content)
        return response.json()

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, path: str, headers: Mapping[str, str]
    ) -> AsyncIterator[httpx.Response]:
        try:
            async with self._http.stream(method, path, headers=headers) as response:
                if response.status_code >= 400:
                    raise error_from_response(response, await response.aread())
                yield response
        except httpx.TransportError as exc:
            raise APIConnectionError(f"{method} {path}: {exc}") from exc


async def _iter_range(source: Source, start: int, end: int) -> AsyncIterator[bytes]:
    offset = start
    while offset < end:
        block = await anyio.to_thread.run_sync(source.read_at, offset, min(CHUNK, end - offset))
        if not block:
            raise OSError(f"{source.name}: file ended at byte {offset}, expected {end}")
        offset += len(block)
        yield block


async def _iter_all(source: Source) -> AsyncIterator[bytes]:
    if source.size is not None:
        async for block in _iter_range(source, 0, source.size):
            yield block
        return
    stream = source.iter_all()
    while block := await anyio.to_thread.run_sync(next, stream, b""):
        yield block


class AsyncFiles:
    """`client.files` of the async client."""

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
        source = await anyio.to_thread.run_sync(open_source, file)
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
            async for block in _iter_all(source):
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
        params = {
            k: v
            for k, v in {"purpose": purpose, "limit": limit, "order": order, "after": after}.items()
            if v is not None
        }
        return FileList.from_dict(await self._client.request("GET", "/files", params=params))

    async def list_all(
        self, *, purpose: str | None = None, order: str | None = None, page_size: int = 1000
    ) -> AsyncIterator[FileObject]:
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
            fd, tmp = await anyio.to_thread.run_sync(
                lambda: tempfile.mkstemp(prefix=".filedock-", dir=target.parent or ".")
            )
            out: IO[bytes] = os.fdopen(fd, "wb")
            try:
                tracker.start()
                received = 0
                async for block in response.aiter_bytes(CHUNK):
                    await anyio.to_thread.run_sync(out.write, block)
                    received += len(block)
                    tracker.update(0, received)
                await anyio.to_thread.run_sync(out.close)
                await anyio.to_thread.run_sync(os.replace, tmp, target)
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
        start = time.monotonic()
        file = await self.retrieve(id)
        while file.status not in TERMINAL_STATES:
            if time.monotonic() - start > max_wait_seconds:
                raise ProcessingTimeout(
                    f"Giving up on waiting for file {id} to finish processing after "
                    f"{max_wait_seconds} seconds."
                )
            await anyio.sleep(poll_interval)
            file = await self.retrieve(id)
        return file

    async def report(self, file_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._client.request("GET", f"/files/{file_id}/report")
        return data


class AsyncUploads:
    """`client.uploads` of the async client."""

    def __init__(self, client: AsyncFilesClient) -> None:
        self._client = client

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
        return Upload.from_dict(
            await self._client.request(
                "POST", f"/uploads/{upload_id}/cancel", headers={"Content-Type": "application/json"}
            )
        )

    async def add_part(
        self, upload_id: str, source: Source, start: int, end: int, *, on_sent: Any = None
    ) -> str:
        """Send bytes [start, end) of `source` as one part; returns the part id."""
        frame = multipart_frame([], "data", "blob", "application/octet-stream")

        async def body() -> AsyncIterator[bytes]:
            yield frame.head
            sent = 0
            async for block in _iter_range(source, start, end):
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
    ) -> str:
        attempts = self._client.config.part_retries + 1
        for attempt in range(attempts):
            try:
                return await self.add_part(
                    upload_id, source, *span, on_sent=lambda n: tracker.update(index, n)
                )
            except (APIConnectionError, APIStatusError) as exc:
                retry = isinstance(exc, APIConnectionError) or retryable_status(exc.status)
                if not retry or attempt == attempts - 1:
                    raise
                await anyio.sleep(min(0.25 * 2**attempt, 4.0))
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
        assert source.size is not None
        size = source.size
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
        limiter = anyio.Semaphore(config.max_parallel_parts)
        md5: list[str] = []

        async def send(index: int, span: tuple[int, int]) -> None:
            async with limiter:
                part_ids[index] = await self._add_part_retrying(
                    upload.id, source, index, span, tracker
                )

        async def digest() -> None:
            h = hashlib.md5(usedforsecurity=False)
            async for block in _iter_all(source):
                h.update(block)
            md5.append(h.hexdigest())

        try:
            tracker.start()
            async with anyio.create_task_group() as tg:
                tg.start_soon(digest)
                for i, span in enumerate(spans):
                    tg.start_soon(send, i, span)
            completed = await self.complete(upload.id, part_ids=part_ids, md5=md5[0])
            tracker.finish()
            return completed
        except BaseException:
            with anyio.CancelScope(shield=True), contextlib.suppress(FiledockClientError):
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
        source = await anyio.to_thread.run_sync(open_source, file)
        try:
            if source.size is None:
                raise FiledockClientError("chunked upload needs a file of known size")
            return await self.upload_source(
                source, purpose=purpose, expires_after=expires_after, progress=progress
            )
        finally:
            source.close()


class AsyncBatches:
    """`client.batches` of the async client (the Batch API: create, retrieve, list, cancel)."""

    def __init__(self, client: AsyncFilesClient) -> None:
        self._client = client

    async def create(
        self,
        *,
        input_file_id: str,
        endpoint: str,
        completion_window: str = "24h",
        metadata: Mapping[str, str] | None = None,
        output_expires_after: Mapping[str, Any] | None = None,
    ) -> Batch:
        body: dict[str, Any] = {
            "input_file_id": input_file_id,
            "endpoint": endpoint,
            "completion_window": completion_window,
        }
        if metadata is not None:
            body["metadata"] = dict(metadata)
        if output_expires_after is not None:
            body["output_expires_after"] = {
                "anchor": output_expires_after.get("anchor", "created_at"),
                "seconds": int(output_expires_after["seconds"]),
            }
        return Batch.from_dict(await self._client.request("POST", "/batches", json=body))

    async def retrieve(self, batch_id: str) -> Batch:
        return Batch.from_dict(await self._client.request("GET", f"/batches/{batch_id}"))

    async def list(self, *, limit: int | None = None, after: str | None = None) -> BatchList:
        params = {k: v for k, v in {"limit": limit, "after": after}.items() if v is not None}
        return BatchList.from_dict(await self._client.request("GET", "/batches", params=params))

    async def list_all(self, *, page_size: int = 100) -> AsyncIterator[Batch]:
        """Every batch, newest first, page after page."""
        after: str | None = None
        while True:
            page = await self.list(limit=page_size, after=after)
            for batch in page.data:
                yield batch
            if not page.has_more or not page.data:
                return
            after = page.data[-1].id

    async def cancel(self, batch_id: str) -> Batch:
        return Batch.from_dict(
            await self._client.request(
                "POST", f"/batches/{batch_id}/cancel", headers={"Content-Type": "application/json"}
            )
        )

    async def wait(
        self,
        batch_id: str,
        *,
        poll_interval: float = 2.0,
        max_wait_seconds: float = 24 * 3600,
        on_update: Callable[[Batch], None] | None = None,
    ) -> Batch:
        """Poll until the batch is completed, failed, expired or cancelled; `on_update` sees
        every state polled (request_counts move while it runs)."""
        start = time.monotonic()
        while True:
            batch = await self.retrieve(batch_id)
            if on_update is not None:
                on_update(batch)
            if batch.done:
                return batch
            if time.monotonic() - start > max_wait_seconds:
                raise ProcessingTimeout(
                    f"Giving up on waiting for batch {batch_id} after {max_wait_seconds} seconds "
                    f"(status {batch.status})."
                )
            await anyio.sleep(poll_interval)
