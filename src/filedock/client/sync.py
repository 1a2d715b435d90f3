"""The synchronous client: `FilesClient().files.create(...)` and friends, on httpx."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

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


class UploadCancelled(FiledockClientError):
    """A chunked upload was stopped (Ctrl-C or another part failed); the Upload was cancelled."""


class FilesClient:
    """A client for any OpenAI-compatible Files API (filedock or api.openai.com).

    `base_url` and `api_key` default to OPENAI_BASE_URL and OPENAI_API_KEY. Files of at least
    `chunk_threshold` bytes go through the Uploads API in parts of `part_size` bytes, up to
    `max_parallel_parts` at a time, each retried up to `part_retries` times on its own.
    """

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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = ClientConfig.resolve(
            base_url,
            api_key,
            chunk_threshold=chunk_threshold,
            part_size=part_size,
            max_parallel_parts=max_parallel_parts,
            part_retries=part_retries,
        )
        self._http = httpx.Client(
            base_url=self.config.base_url,
            headers=self.config.headers(),
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
            limits=httpx.Limits(max_connections=max(10, max_parallel_parts + 2)),
        )
        self.files = Files(self)
        self.uploads = Uploads(self)
        self.batches = Batches(self)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FilesClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # transport ---------------------------------------------------------------------------
    def request(
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
            response = self._http.request(
                method, path, json=json, params=params, content=content, headers=headers
            )
        except httpx.TransportError as exc:
            raise APIConnectionError(f"{method} {path}: {exc}") from exc
        if response.status_code >= 400:
            raise error_from_response(response, response.content)
        return response.json()

    @contextlib.contextmanager
    def stream(
        self, method: str, path: str, headers: Mapping[str, str]
    ) -> Iterator[httpx.Response]:
        try:
            with self._http.stream(method, path, headers=headers) as response:
                if response.status_code >= 400:
                    raise error_from_response(response, response.read())
                yield response
        except httpx.TransportError as exc:
            raise APIConnectionError(f"{method} {path}: {exc}") from exc


class Files:
    """`client.files`: the Files API, plus progress, chunked uploads and streamed downloads."""

    def __init__(self, client: FilesClient) -> None:
        self._client = client

    def create(
        self,
        *,
        file: FileInput,
        purpose: str,
        expires_after: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
        chunked: bool | None = None,
    ) -> FileObject:
        """Upload a file. `chunked=None` picks the Uploads API when the file is big enough."""
        source = open_source(file)
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
                upload = self._client.uploads.upload_source(
                    source, purpose=purpose, expires_after=expires_after, progress=progress
                )
                assert upload.file is not None
                return upload.file
            return self._create_direct(source, purpose, expires_after, progress)
        finally:
            source.close()

    def _create_direct(
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

        def body() -> Iterator[bytes]:
            yield frame.head
            sent = 0
            for block in source.iter_all():
                yield block
                sent += len(block)
                tracker.update(0, sent)
            yield frame.tail

        headers = {"Content-Type": frame.content_type}
        if source.size is not None:
            headers["Content-Length"] = str(frame.content_length(source.size))
        tracker.start()
        data = self._client.request("POST", "/files", content=body(), headers=headers)
        tracker.finish()
        return FileObject.from_dict(data)

    def list(
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
        return FileList.from_dict(self._client.request("GET", "/files", params=params))

    def list_all(
        self, *, purpose: str | None = None, order: str | None = None, page_size: int = 1000
    ) -> Iterator[FileObject]:
        """Every file, following `after` while `has_more`."""
        after: str | None = None
        while True:
            page = self.list(purpose=purpose, limit=page_size, order=order, after=after)
            yield from page.data
            if not page.has_more or not page.data:
                return
            after = page.data[-1].id

    def retrieve(self, file_id: str) -> FileObject:
        return FileObject.from_dict(self._client.request("GET", f"/files/{file_id}"))

    def delete(self, file_id: str) -> FileDeleted:
        return FileDeleted.from_dict(self._client.request("DELETE", f"/files/{file_id}"))

    def content(self, file_id: str) -> bytes:
        """The whole content in memory (for small files; use `download` for big ones)."""
        with self._client.stream(
            "GET", f"/files/{file_id}/content", {"Accept": "application/binary"}
        ) as response:
            return response.read()

    def download(
        self,
        file_id: str,
        path: str | os.PathLike[str],
        *,
        progress: ProgressCallback | None = None,
    ) -> Path:
        """Stream the content to `path` (written to a temporary name, then renamed)."""
        target = Path(path)
        with self._client.stream(
            "GET", f"/files/{file_id}/content", {"Accept": "application/binary"}
        ) as response:
            length = response.headers.get("content-length")
            tracker = ProgressTracker(int(length) if length else None, progress)
            fd, tmp = tempfile.mkstemp(prefix=".filedock-", dir=target.parent or ".")
            try:
                with os.fdopen(fd, "wb") as out:
                    tracker.start()
                    received = 0
                    for block in response.iter_bytes(CHUNK):
                        out.write(block)
                        received += len(block)
                        tracker.update(0, received)
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            tracker.finish()
        return target

    def wait_for_processing(
        self, id: str, *, poll_interval: float = 5.0, max_wait_seconds: float = 30 * 60
    ) -> FileObject:
        """Retrieve until the status is processed, error or deleted (as the official SDK does)."""
        start = time.monotonic()
        file = self.retrieve(id)
        while file.status not in TERMINAL_STATES:
            if time.monotonic() - start > max_wait_seconds:
                raise ProcessingTimeout(
                    f"Giving up on waiting for file {id} to finish processing after "
                    f"{max_wait_seconds} seconds."
                )
            time.sleep(poll_interval)
            file = self.retrieve(id)
        return file

    def report(self, file_id: str) -> dict[str, Any]:
        """The validation report (filedock's extension `GET /files/{id}/report`)."""
        data: dict[str, Any] = self._client.request("GET", f"/files/{file_id}/report")
        return data


class Uploads:
    """`client.uploads`: the Uploads API, and a whole-file chunked upload on top of it."""

    def __init__(self, client: FilesClient) -> None:
        self._client = client

    def create(
        self,
        *,
        filename: str,
        purpose: str,
        bytes: int,
        mime_type: str,
        expires_after: Mapping[str, Any] | None = None,
    ) -> Upload:
        body = upload_body(filename, purpose, bytes, mime_type, expires_after)
        return Upload.from_dict(self._client.request("POST", "/uploads", json=body))

    def complete(self, upload_id: str, *, part_ids: list[str], md5: str | None = None) -> Upload:
        body: dict[str, Any] = {"part_ids": part_ids}
        if md5 is not None:
            body["md5"] = md5
        return Upload.from_dict(
            self._client.request("POST", f"/uploads/{upload_id}/complete", json=body)
        )

    def cancel(self, upload_id: str) -> Upload:
        return Upload.from_dict(
            self._client.request(
                "POST", f"/uploads/{upload_id}/cancel", headers={"Content-Type": "application/json"}
            )
        )

    def add_part(
        self,
        upload_id: str,
        source: Source,
        start: int,
        end: int,
        *,
        on_sent: Any = None,
        stop: threading.Event | None = None,
    ) -> str:
        """Send bytes [start, end) of `source` as one part; returns the part id."""
        frame = multipart_frame([], "data", "blob", "application/octet-stream")

        def body() -> Iterator[bytes]:
            yield frame.head
            sent = 0
            for block in source.iter_range(start, end):
                if stop is not None and stop.is_set():
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
        data = self._client.request(
            "POST", f"/uploads/{upload_id}/parts", content=body(), headers=headers
        )
        return str(data["id"])

    def _add_part_retrying(
        self,
        upload_id: str,
        source: Source,
        index: int,
        span: tuple[int, int],
        tracker: ProgressTracker,
        stop: threading.Event,
    ) -> str:
        attempts = self._client.config.part_retries + 1
        for attempt in range(attempts):
            try:
                return self.add_part(
                    upload_id,
                    source,
                    *span,
                    on_sent=lambda n: tracker.update(index, n),
                    stop=stop,
                )
            except (APIConnectionError, APIStatusError) as exc:
                retry = isinstance(exc, APIConnectionError) or retryable_status(exc.status)
                if not retry or attempt == attempts - 1 or stop.is_set():
                    raise
                # Only this part is sent again; the parts already stored stay.
                time.sleep(min(0.25 * 2**attempt, 4.0))
        raise AssertionError("unreachable")

    def upload_source(
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
        upload = self.create(
            filename=source.name,
            purpose=purpose,
            bytes=size,
            mime_type=source.mime_type,
            expires_after=expires_after,
        )
        tracker = ProgressTracker(size, progress)
        stop = threading.Event()
        pool = ThreadPoolExecutor(max_workers=config.max_parallel_parts + 1)
        try:
            tracker.start()
            md5_future = pool.submit(_md5, source, stop)
            futures: list[Future[str]] = [
                pool.submit(self._add_part_retrying, upload.id, source, i, span, tracker, stop)
                for i, span in enumerate(spans)
            ]
            done, _pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in done:
                future.result()  # raises the first failure
            part_ids = [f.result() for f in futures]
            completed = self.complete(upload.id, part_ids=part_ids, md5=md5_future.result())
            tracker.finish()
            return completed
        except BaseException:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            with contextlib.suppress(FiledockClientError):
                self.cancel(upload.id)
            raise
        finally:
            pool.shutdown(wait=False)

    def upload_file_chunked(
        self,
        *,
        file: FileInput,
        purpose: str,
        expires_after: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Upload:
        """The whole chunked flow for a path, bytes or open file; returns the completed Upload."""
        source = open_source(file)
        try:
            if source.size is None:
                raise FiledockClientError("chunked upload needs a file of known size")
            return self.upload_source(
                source, purpose=purpose, expires_after=expires_after, progress=progress
            )
        finally:
            source.close()


def _md5(source: Source, stop: threading.Event) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for block in source.iter_all():
        if stop.is_set():
            raise UploadCancelled("upload stopped")
        digest.update(block)
    return digest.hexdigest()


# Hand-written twin of aio.AsyncBatches until sync.py is generated from aio.py (unasync).
class Batches:
    """`client.batches`: the Batch API (create, retrieve, list, cancel, wait)."""

    def __init__(self, client: FilesClient) -> None:
        self._client = client

    def create(
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
        return Batch.from_dict(self._client.request("POST", "/batches", json=body))

    def retrieve(self, batch_id: str) -> Batch:
        return Batch.from_dict(self._client.request("GET", f"/batches/{batch_id}"))

    def list(self, *, limit: int | None = None, after: str | None = None) -> BatchList:
        params = {k: v for k, v in {"limit": limit, "after": after}.items() if v is not None}
        return BatchList.from_dict(self._client.request("GET", "/batches", params=params))

    def list_all(self, *, page_size: int = 100) -> Iterator[Batch]:
        """Every batch, newest first, page after page."""
        after: str | None = None
        while True:
            page = self.list(limit=page_size, after=after)
            yield from page.data
            if not page.has_more or not page.data:
                return
            after = page.data[-1].id

    def cancel(self, batch_id: str) -> Batch:
        return Batch.from_dict(
            self._client.request(
                "POST", f"/batches/{batch_id}/cancel", headers={"Content-Type": "application/json"}
            )
        )

    def wait(
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
            batch = self.retrieve(batch_id)
            if on_update is not None:
                on_update(batch)
            if batch.done:
                return batch
            if time.monotonic() - start > max_wait_seconds:
                raise ProcessingTimeout(
                    f"Giving up on waiting for batch {batch_id} after {max_wait_seconds} seconds "
                    f"(status {batch.status})."
                )
            time.sleep(poll_interval)
