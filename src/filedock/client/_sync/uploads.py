# GENERATED from src/filedock/client/_async/uploads.py by scripts/gen_sync_client.py: do not edit.
"""`client.uploads`: the Uploads API and the whole chunked flow with per-part retries."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from filedock.client._common import (
    ProgressCallback,
    ProgressTracker,
    multipart_frame,
    plan_parts,
    retryable_status,
    upload_body,
)
from filedock.client._sync.concurrency import SyncTaskGroup, shielded, sleep, to_thread
from filedock.client.errors import (
    APIConnectionError,
    APIStatusError,
    FiledockClientError,
    UploadCancelled,
)
from filedock.client.sources import FileInput, Source, open_source
from filedock.client.types import Upload

if TYPE_CHECKING:
    from filedock.client._sync.client import FilesClient

from filedock.client._sync.streams import iter_all, iter_range


class Uploads:
    """`client.uploads`: the Uploads API, and the whole chunked flow with per-part retries."""

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
        stopped: Callable[[], bool] | None = None,
    ) -> str:
        """Send bytes [start, end) of `source` as one part; returns the part id."""
        frame = multipart_frame([], "data", "blob", "application/octet-stream")

        def body() -> Iterator[bytes]:
            yield frame.head
            sent = 0
            for block in iter_range(source, start, end):
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
        stopped: Callable[[], bool],
    ) -> str:
        attempts = self._client.config.part_retries + 1
        for attempt in range(attempts):
            try:
                return self.add_part(
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
                sleep(min(0.25 * 2**attempt, 4.0))
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
        part_ids: list[str] = [""] * len(spans)
        md5: list[str] = []

        try:
            tracker.start()
            # The parts, plus one task that hashes the whole file for `complete`'s md5.
            with SyncTaskGroup(config.max_parallel_parts + 1) as group:

                def send(index: int, span: tuple[int, int]) -> None:
                    part_ids[index] = self._add_part_retrying(
                        upload.id, source, index, span, tracker, lambda: group.stopped
                    )

                def digest() -> None:
                    h = hashlib.md5(usedforsecurity=False)
                    for block in iter_all(source):
                        if group.stopped:
                            raise UploadCancelled("upload stopped")
                        h.update(block)
                    md5.append(h.hexdigest())

                group.start_soon(digest)
                for i, span in enumerate(spans):
                    group.start_soon(send, i, span)
            completed = self.complete(upload.id, part_ids=part_ids, md5=md5[0])
            tracker.finish()
            return completed
        except BaseException:
            with shielded(), contextlib.suppress(FiledockClientError):
                self.cancel(upload.id)
            raise

    def upload_file_chunked(
        self,
        *,
        file: FileInput,
        purpose: str,
        expires_after: Mapping[str, Any] | None = None,
        progress: ProgressCallback | None = None,
    ) -> Upload:
        """The whole chunked flow for a path, bytes or open file; returns the completed Upload."""
        source = to_thread(open_source, file)
        try:
            if source.size is None:
                raise FiledockClientError("chunked upload needs a file of known size")
            return self.upload_source(
                source, purpose=purpose, expires_after=expires_after, progress=progress
            )
        finally:
            source.close()
