"""FileService: the Files API's rules and ordering, over a blob store and a metadata store."""

from __future__ import annotations

import json
import logging
import os.path
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from filedock.blobs.base import BlobStore, BlobWriter
from filedock.errors import (
    BlobNotFound,
    FileNotFound,
    FileTooLarge,
    InvalidFileContent,
    InvalidRequest,
    MetadataError,
)
from filedock.ids import new_blob_key, new_file_id
from filedock.metadata.base import CursorNotFound, MetadataStore, Order
from filedock.models import ALL_PURPOSES, UPLOAD_PURPOSES, FilePage, FileRecord
from filedock.services import audit
from filedock.services.leases import BlobLeases
from filedock.services.processing import Processor, report_json
from filedock.services.quotas import Held, QuotaService
from filedock.settings import Settings
from filedock.validation import Report

log = logging.getLogger("filedock.service")

EXPIRY_MIN_SECONDS = 3600
EXPIRY_MAX_SECONDS = 2592000
LIST_LIMIT_MAX = 10000
MAX_FIELD_BYTES = 64 * 1024
FORM_FIELDS = ("file", "purpose", "expires_after[anchor]", "expires_after[seconds]")
JSONL_ONLY = {"fine-tune": "Fine-Tuning", "batch": "Batch"}
DOWNLOAD_RESTRICTED = ("assistants", "user_data")


def _purpose_error(value: str) -> InvalidRequest:
    allowed = "[" + ", ".join(f"'{p}'" for p in UPLOAD_PURPOSES) + "]"
    return InvalidRequest(f"'{value}' is not one of {allowed} - 'purpose'", param="purpose")


@dataclass
class FileUpload:
    """One `POST /files` in progress: fields and the file part arrive in any order.

    The web layer feeds it what the multipart body holds; it enforces the rules as early as it
    can (unknown fields, purpose, size limits while streaming) and publishes the file only in
    `finish()`, after the bytes are durable.
    """

    service: FileService
    project_id: str
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    _writer: BlobWriter | None = None
    _done: bool = False
    _held: Held | None = None

    async def reserve(self, declared_bytes: int | None) -> None:
        """Hold quota for the body before reading it: its Content-Length, or nothing yet
        (chunked bodies then reserve in blocks as bytes arrive). Raises StorageQuotaExceeded."""
        self._held = await self.service.quotas.reserve(self.project_id, declared_bytes or 0)

    def add_field(self, name: str, value: str) -> None:
        if name not in FORM_FIELDS:
            raise InvalidRequest(
                f"Additional properties are not allowed ('{name}' was unexpected)", param=name
            )
        if name == "file":
            raise InvalidRequest("'file' must be a file, not a text field", param="file")
        if name in self.fields:
            raise InvalidRequest(f"'{name}' was given more than once", param=name)
        self.fields[name] = value
        if name == "purpose":
            self.service.check_purpose(value)

    def check_field_name(self, name: str, is_file: bool) -> None:
        """Called at the start of each part, before its value is read."""
        if name not in FORM_FIELDS:
            raise InvalidRequest(
                f"Additional properties are not allowed ('{name}' was unexpected)", param=name
            )
        if is_file and name != "file":
            raise InvalidRequest(f"'{name}' must be a text field, not a file", param=name)
        if name == "file" and not is_file:
            raise InvalidRequest(
                "'file' must be a file part (a filename is required)", param="file"
            )

    async def open_file(self, filename: str) -> None:
        if self._writer is not None:
            raise InvalidRequest("Only one 'file' part is allowed", param="file")
        self.filename = filename
        key = new_blob_key()
        # The ledger knows of the blob before its first byte (see services/leases.py).
        await self.service.leases.begin(key, "file")
        await self.service.leases.step("file.intent", key)
        try:
            self._writer = await self.service.blobs.begin_write(key)
        except BaseException:
            await self.service.leases.release(key)
            raise
        await self.service.leases.step("file.writing", key)

    async def write(self, data: bytes | memoryview) -> None:
        assert self._writer is not None
        if self._writer.size + len(data) > self.size_limit():
            raise self.service.too_large(self.fields.get("purpose"))
        await self._hold(self._writer.size + len(data))
        await self._writer.write(data)

    async def _hold(self, needed: int) -> None:
        # Quota is held before the bytes are written, so stored + held never exceeds it.
        quotas = self.service.quotas
        if self._held is None:
            self._held = await quotas.reserve(self.project_id, 0)
        if needed > self._held.bytes:
            await quotas.grow(self._held, needed, limit=self.size_limit())
        else:
            await quotas.renew_if_due(self._held)

    def size_limit(self) -> int:
        return self.service.size_limit(self.fields.get("purpose"))

    async def finish(self) -> FileRecord:
        """Validate what arrived, make the bytes durable, then insert the row."""
        try:
            if self._writer is None:
                raise InvalidRequest("'file' is a required property", param="file")
            if "purpose" not in self.fields:
                raise InvalidRequest("'purpose' is a required property", param="purpose")
            purpose = self.fields["purpose"]
            if self._writer.size > self.service.size_limit(purpose):
                raise self.service.too_large(purpose)
            filename = self.filename or "upload"
            self.service.check_file_type(purpose, filename)
            expires_after = self.service.parse_expires_after(
                self.fields.get("expires_after[anchor]"),
                self.fields.get("expires_after[seconds]"),
                purpose,
            )
            await self.service.leases.step("file.received", self._writer.key)
            info = await self._writer.commit()
        except BaseException:
            await self.abort()
            raise
        self._done = True
        await self.service.leases.step("file.committed", info.key)
        held, self._held = self._held, None
        try:
            # The row's insert settles the hold: the real size moves to "used", the rest is
            # freed, in one transaction.
            return await self.service.publish_file(
                self.project_id,
                purpose,
                filename,
                info.key,
                info.size,
                info.sha256,
                expires_after,
                held=held,
            )
        except BaseException:
            await self.service.quotas.release(held)
            raise

    async def abort(self) -> None:
        if self._writer is not None and not self._done:
            self._done = True
            await self._writer.abort()
            await self.service.leases.release(self._writer.key)
        await self.service.quotas.release(self._held)
        self._held = None


class FileService:
    """The operations of the Files API. Knows nothing of HTTP."""

    def __init__(
        self,
        settings: Settings,
        blobs: BlobStore,
        metadata: MetadataStore,
        processor: Processor | None = None,
        *,
        leases: BlobLeases,
    ) -> None:
        self.settings = settings
        self.blobs = blobs
        self.metadata = metadata
        self.leases = leases
        self.processor = processor or Processor(settings, blobs, metadata)

        self.quotas = QuotaService(settings, metadata)

    # rules ---------------------------------------------------------------------------------
    def check_purpose(self, purpose: str) -> None:
        if purpose not in UPLOAD_PURPOSES:
            raise _purpose_error(purpose)

    def size_limit(self, purpose: str | None) -> int:
        if purpose == "batch":
            return min(self.settings.batch_max_bytes, self.settings.max_file_bytes)
        return self.settings.max_file_bytes

    def too_large(self, purpose: str | None) -> FileTooLarge:
        if purpose == "batch":
            return FileTooLarge("File is too large.", param="file")
        limit = self.settings.max_file_bytes
        return FileTooLarge(f"File is too large. The maximum size is {limit} bytes.", param="file")

    def check_file_type(self, purpose: str, filename: str) -> None:
        api = JSONL_ONLY.get(purpose)
        if api is None:
            return
        extension = os.path.splitext(filename)[1].lower()
        # api.openai.com also accepts a batch file whose name has no extension.
        if extension == ".jsonl" or (purpose == "batch" and extension == ""):
            return
        raise InvalidRequest(f"Invalid file format for {api} API. Must be .jsonl", param="file")

    def parse_expires_after(
        self, anchor: str | None, seconds: str | None, purpose: str
    ) -> int | None:
        """Seconds until expiry, or None for files that never expire."""
        if anchor is None and seconds is None:
            return self.settings.batch_default_expiry_seconds if purpose == "batch" else None
        if anchor is None:
            raise InvalidRequest("'anchor' is a required property", param="expires_after.anchor")
        if seconds is None:
            raise InvalidRequest("'seconds' is a required property", param="expires_after.seconds")
        if anchor != "created_at":
            raise InvalidRequest(
                f"'{anchor}' is not one of ['created_at'] - 'expires_after.anchor'",
                param="expires_after.anchor",
            )
        try:
            value = int(seconds.strip())
        except ValueError:
            raise InvalidRequest(
                f"'{seconds}' is not a valid integer - 'expires_after.seconds'",
                param="expires_after.seconds",
            ) from None
        if not EXPIRY_MIN_SECONDS <= value <= EXPIRY_MAX_SECONDS:
            raise InvalidRequest(
                f"{value} is out of range: expires_after.seconds must be between "
                f"{EXPIRY_MIN_SECONDS} and {EXPIRY_MAX_SECONDS}",
                param="expires_after.seconds",
            )
        return value

    # operations ----------------------------------------------------------------------------
    def create_file(self, project_id: str) -> FileUpload:
        """Begin a `POST /files`; the caller feeds the returned FileUpload and calls finish()."""
        return FileUpload(self, project_id)

    async def publish_file(
        self,
        project_id: str,
        purpose: str,
        filename: str,
        blob_key: str,
        size: int,
        sha256: str,
        expires_after: int | None,
        *,
        file_id: str | None = None,
        held: Held | None = None,
    ) -> FileRecord:
        """Insert the row for durable bytes; on failure the bytes are removed again.

        Files whose purpose needs content checks start in status `uploaded` and are checked in
        the background; in strict mode (`reject_invalid`) they are checked first and invalid
        content is refused (its bytes deleted). `file_id` lets a caller choose the id up front
        (the Uploads API records it first).

        With `held` (a quota reservation of at least `size` bytes), the row's insert also drops
        the reservation, atomically; StorageQuotaExceeded if the hold was lost (its lease ran
        out) and the file no longer fits.
        """
        status = "processed"
        report: Report | None = None
        if self.processor.needs_check(purpose):
            if self.settings.reject_invalid:
                # However long this takes, the blob's lease is renewed: no sweep can take it.
                await self.leases.step("publish.validating", blob_key)
                try:
                    report = await self.processor.validate_blob(purpose, filename, blob_key)
                except BaseException:
                    await self.discard_blob(blob_key)
                    raise
                await self.leases.step("publish.validated", blob_key)
                if not report.valid:
                    await self.discard_blob(blob_key)
                    raise InvalidFileContent(report.status_details() or "", param="file")
            else:
                status = "uploaded"
        created_at = int(time.time())
        record = FileRecord(
            id=file_id or new_file_id(),
            project_id=project_id,
            purpose=purpose,
            filename=filename,
            bytes=size,
            created_at=created_at,
            expires_at=created_at + expires_after if expires_after is not None else None,
            status=status,
            status_details=None,
            sha256=sha256,
            blob_key=blob_key,
        )
        try:
            await self.leases.step("publish.inserting", blob_key)
            self.leases.check(blob_key)
            # The insert consumes the blob's intent in the same statement (migration 0005).
            if held is None:
                inserted = await self.metadata.insert_file(record)
            else:
                settled = await self.metadata.insert_file_settling(
                    record, held.id, self.settings.storage_quota_bytes
                )
                if settled is None:
                    raise await self.quotas.exceeded(project_id)
                inserted = settled
        except BaseException:
            await self.discard_blob(blob_key)
            raise
        self.leases.published(blob_key)
        await self.leases.step("publish.inserted", blob_key)
        if report is not None:
            try:
                await self.metadata.save_file_report(inserted.id, report_json(report), created_at)
            except MetadataError:
                # The file itself is stored and valid; only its report page will be missing.
                log.warning("could not store the validation report of %s", inserted.id)
        if status == "uploaded":
            self.processor.kick()
        audit.record(
            "file.created", project_id=project_id, file_id=inserted.id, purpose=purpose, bytes=size
        )
        return inserted

    async def discard_blob(self, blob_key: str) -> None:
        """Delete the bytes of a blob that will not be published, then drop its intent."""
        await self.blobs.delete(blob_key)
        await self.leases.release(blob_key)

    async def retrieve_file(self, project_id: str, file_id: str) -> FileRecord:
        record = await self.metadata.get_file(project_id, file_id, int(time.time()))
        if record is None:
            raise FileNotFound(file_id)
        return record

    async def list_files(
        self,
        project_id: str,
        *,
        purpose: str | None = None,
        limit: int = LIST_LIMIT_MAX,
        order: str = "desc",
        after: str | None = None,
    ) -> FilePage:
        if purpose is not None and purpose not in ALL_PURPOSES:
            allowed = "[" + ", ".join(f"'{p}'" for p in ALL_PURPOSES) + "]"
            raise InvalidRequest(
                f"'{purpose}' is not one of {allowed} - 'purpose'", param="purpose"
            )
        if not 1 <= limit <= LIST_LIMIT_MAX:
            raise InvalidRequest(
                f"{limit} is out of range: limit must be between 1 and {LIST_LIMIT_MAX}",
                param="limit",
            )
        if order not in ("asc", "desc"):
            raise InvalidRequest(
                f"'{order}' is not one of ['asc', 'desc'] - 'order'", param="order"
            )
        direction: Order = "asc" if order == "asc" else "desc"
        try:
            return await self.metadata.list_files(
                project_id,
                purpose=purpose,
                limit=limit,
                order=direction,
                after=after,
                now=int(time.time()),
            )
        except CursorNotFound:
            raise InvalidRequest(f"No such File object: {after}", param="after") from None

    async def delete_file(self, project_id: str, file_id: str) -> FileRecord:
        record = await self.metadata.mark_file_deleted(project_id, file_id, int(time.time()))
        if record is None:
            raise FileNotFound(file_id)
        await self.blobs.delete(record.blob_key)
        audit.record("file.deleted", project_id=project_id, file_id=file_id, bytes=record.bytes)
        return record

    async def download_file(self, project_id: str, file_id: str) -> FileRecord:
        """The file whose bytes the caller may read (see `open_content`)."""
        record = await self.retrieve_file(project_id, file_id)
        if self.settings.restrict_downloads and record.purpose in DOWNLOAD_RESTRICTED:
            raise InvalidRequest(
                f"Not allowed to download files of purpose: {record.purpose}", param=None
            )
        return record

    async def open_content(self, record: FileRecord, start: int, end: int) -> AsyncIterator[bytes]:
        """Stream bytes start..end (exclusive) of a file, opened before this returns.

        A response must not start (status and Content-Length sent) for bytes that cannot be read:
        a file deleted between `download_file` and here is a 404, missing bytes of a live file
        are our fault (StorageError).
        """
        stream = self.blobs.read(record.blob_key, start, end)
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            first = b""
        except BlobNotFound:
            await stream.aclose()  # type: ignore[attr-defined]
            await self.retrieve_file(record.project_id, record.id)  # 404 once deleted or expired
            raise
        return _prepend(first, stream)

    async def retrieve_file_report(self, project_id: str, file_id: str) -> dict[str, Any]:
        """The validation report of a file (documented extension: GET /v1/files/{id}/report).

        `verdict` is `valid` or `invalid` once checked, `pending` while the file is `uploaded`,
        and `unchecked` for purposes without content checks.
        """
        record = await self.retrieve_file(project_id, file_id)
        stored = await self.metadata.get_file_report(record.id)
        if stored is not None:
            body: dict[str, Any] = json.loads(stored)
        else:
            body = Report(record.purpose).to_json()
            body["verdict"] = "pending" if record.status == "uploaded" else "unchecked"
        return {
            "object": "file.report",
            "file_id": record.id,
            "filename": record.filename,
            "status": record.status,
            **{k: v for k, v in body.items() if k != "object"},
        }


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        if first:
            yield first
        async for chunk in rest:
            yield chunk
    finally:
        await rest.aclose()  # type: ignore[attr-defined]
