"""FileService: the Files API's rules and ordering, over a blob store and a metadata store."""

from __future__ import annotations

import json
import logging
import os.path
from collections.abc import AsyncIterator
from dataclasses import KW_ONLY, dataclass
from typing import Any

from filedock.blobs.base import BlobStore
from filedock.clock import Clock
from filedock.errors import (
    BlobNotFound,
    FileNotFound,
    FileTooLarge,
    InvalidFileContent,
    InvalidRequest,
    MetadataError,
)
from filedock.ids import new_file_id
from filedock.metadata.base import SORT_KEYS, CursorNotFound, MetadataStore, Order
from filedock.models import ALL_PURPOSES, FILE_STATUSES, UPLOAD_PURPOSES, FileRecord, Page
from filedock.services import audit
from filedock.services.intake import FileUpload
from filedock.services.leases import BlobLeases
from filedock.services.processing import Processor, report_json
from filedock.services.quotas import Held, QuotaService
from filedock.settings import Settings
from filedock.validation import Report

log = logging.getLogger("filedock.service")

EXPIRY_MIN_SECONDS = 3600
EXPIRY_MAX_SECONDS = 2592000
LIST_LIMIT_MAX = 10000
SEARCH_MAX = 200  # characters of the `search` list extension
JSONL_ONLY = {"fine-tune": "Fine-Tuning", "batch": "Batch"}
DOWNLOAD_RESTRICTED = ("assistants", "user_data")


def _purpose_error(value: str) -> InvalidRequest:
    allowed = "[" + ", ".join(f"'{p}'" for p in UPLOAD_PURPOSES) + "]"
    return InvalidRequest(f"'{value}' is not one of {allowed} - 'purpose'", param="purpose")


@dataclass(frozen=True)
class FileReport:
    """A file and its validation report (`Report.to_json()` as stored, with its verdict)."""

    file: FileRecord
    report: dict[str, Any]


@dataclass(eq=False)
class FileService:
    """The operations of the Files API. Knows nothing of HTTP."""

    settings: Settings
    blobs: BlobStore
    metadata: MetadataStore
    _: KW_ONLY
    processor: Processor
    quotas: QuotaService
    clock: Clock
    leases: BlobLeases

    # rules ---------------------------------------------------------------------------------
    def check_purpose(self, purpose: str) -> None:
        if purpose not in UPLOAD_PURPOSES:
            raise _purpose_error(purpose)

    def size_limit(self, purpose: str | None) -> int:
        if purpose == "batch":
            return min(self.settings.batch_max_bytes, self.settings.max_file_bytes)
        return self.settings.max_file_bytes

    def too_large(self, purpose: str | None, param: str = "file") -> FileTooLarge:
        """The error for a file over its purpose's limit; `param` names what was too large."""
        if purpose == "batch":
            return FileTooLarge("File is too large.", param=param)
        limit = self.settings.max_file_bytes
        return FileTooLarge(f"File is too large. The maximum size is {limit} bytes.", param=param)

    def check_file_type(self, purpose: str, filename: str, param: str = "file") -> None:
        api = JSONL_ONLY.get(purpose)
        if api is None:
            return
        extension = os.path.splitext(filename)[1].lower()
        # api.openai.com also accepts a batch file whose name has no extension.
        if extension == ".jsonl" or (purpose == "batch" and extension == ""):
            return
        raise InvalidRequest(f"Invalid file format for {api} API. Must be .jsonl", param=param)

    def expiry_seconds(self, expires_after: int | None, purpose: str) -> int | None:
        """Seconds from creation until expiry (None: never), checked against the allowed range;
        `expires_after` None means the purpose's default."""
        if expires_after is None:
            return self.settings.batch_default_expiry_seconds if purpose == "batch" else None
        if not EXPIRY_MIN_SECONDS <= expires_after <= EXPIRY_MAX_SECONDS:
            raise InvalidRequest(
                f"{expires_after} is out of range: expires_after.seconds must be between "
                f"{EXPIRY_MIN_SECONDS} and {EXPIRY_MAX_SECONDS}",
                param="expires_after.seconds",
            )
        return expires_after

    # operations ----------------------------------------------------------------------------
    def create_file(self, project_id: str) -> FileUpload:
        """Begin creating a file; the caller streams its bytes into the returned FileUpload,
        names its purpose, and calls finish() (or abort())."""
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
                    report = await self.processor.check_blob(purpose, filename, blob_key)
                except BaseException:
                    await self.discard_blob(blob_key)
                    raise
                await self.leases.step("publish.validated", blob_key)
                if not report.valid:
                    await self.discard_blob(blob_key)
                    raise InvalidFileContent(report.status_details() or "", param="file")
            else:
                status = "uploaded"
        created_at = self.clock.now()
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
            self.processor.kick(inserted.id)
        audit.record(
            "file.created",
            self.clock.time(),
            project_id=project_id,
            file_id=inserted.id,
            purpose=purpose,
            bytes=size,
        )
        return inserted

    async def discard_blob(self, blob_key: str) -> None:
        """Delete the bytes of a blob that will not be published, then drop its intent."""
        await self.blobs.delete(blob_key)
        await self.leases.release(blob_key)

    async def retrieve_file(self, project_id: str, file_id: str) -> FileRecord:
        record = await self.metadata.get_file(project_id, file_id, self.clock.now())
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
        status: str | None = None,
        search: str | None = None,
        sort: str = "created_at",
    ) -> Page[FileRecord]:
        """OpenAI's listing; `status`, `search` and `sort` are filedock extensions (docs/api.md)."""
        if status is not None and status not in FILE_STATUSES:
            raise InvalidRequest(
                f"'{status}' is not one of {list(FILE_STATUSES)} - 'status'", param="status"
            )
        if sort not in SORT_KEYS:
            raise InvalidRequest(f"'{sort}' is not one of {list(SORT_KEYS)} - 'sort'", param="sort")
        if search is not None and len(search) > SEARCH_MAX:
            raise InvalidRequest(
                f"search is too long: at most {SEARCH_MAX} characters", param="search"
            )
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
                now=self.clock.now(),
                status=status,
                search=search or None,
                sort=sort,
            )
        except CursorNotFound:
            raise InvalidRequest(f"No such File object: {after}", param="after") from None

    async def delete_file(self, project_id: str, file_id: str) -> FileRecord:
        record = await self.metadata.mark_file_deleted(project_id, file_id, self.clock.now())
        if record is None:
            raise FileNotFound(file_id)
        await self.blobs.delete(record.blob_key)
        audit.record(
            "file.deleted",
            self.clock.time(),
            project_id=project_id,
            file_id=file_id,
            bytes=record.bytes,
        )
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

    async def retrieve_file_report(self, project_id: str, file_id: str) -> FileReport:
        """The validation report of a file (documented extension: GET /v1/files/{id}/report).

        `verdict` is `valid` or `invalid` once checked, `pending` while the file is `uploaded`,
        and `unchecked` for purposes without content checks.
        """
        record = await self.retrieve_file(project_id, file_id)
        stored = await self.metadata.get_file_report(record.id)
        if stored is not None:
            report: dict[str, Any] = json.loads(stored)
        else:
            report = Report(record.purpose).to_json()
            report["verdict"] = "pending" if record.status == "uploaded" else "unchecked"
        return FileReport(record, report)


async def _prepend(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    try:
        if first:
            yield first
        async for chunk in rest:
            yield chunk
    finally:
        await rest.aclose()  # type: ignore[attr-defined]
