"""UploadService: the Uploads API's rules and ordering (create, add parts, complete, cancel).

Crash safety comes from the order of steps, each durable before the next:
- a part's bytes are committed (fsync, rename) before its row is inserted; the row insert and
  the Upload's byte count move together in one transaction;
- completion records the File id on the Upload, composes the parts into a new blob (atomic),
  publishes the File row through FileService, and only then marks the Upload completed and
  deletes the parts. A crash between publishing and marking is settled later (by a retried
  `complete` or the sweeper) because the recorded File id exists.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import KW_ONLY, dataclass, replace

import anyio.to_thread

from filedock.blobs.base import BlobStore
from filedock.clock import Clock
from filedock.errors import (
    BlobNotFound,
    FileTooLarge,
    InvalidRequest,
    StorageError,
    UploadNotFound,
    UploadStateError,
)
from filedock.ids import new_blob_key, new_file_id, new_upload_id
from filedock.metadata.base import MetadataStore
from filedock.models import FileRecord, UploadPartRecord, UploadRecord
from filedock.services.files import FileService
from filedock.services.intake import PART_PARAM, PartUpload
from filedock.services.quotas import Held, QuotaService
from filedock.settings import Settings

log = logging.getLogger("filedock.uploads")

# Seconds a quota hold outlives its Upload's expiry (then the sweeper frees it).
QUOTA_MARGIN = 300
# `type/subtype[; params]` or a bare token such as `pdf` (the SDK's own docs pass mime_type="pdf").
_MIME_TYPE = re.compile(r"[!-~]+(\s*;[ -~]*)?")
_MD5 = re.compile(r"[0-9a-fA-F]{32}")


def _clean_filename(name: str) -> str:
    """The name to store: no folders, no control characters, never empty."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f").strip()
    return name[:1024] or "upload"


def composite_sha256(parts: list[UploadPartRecord]) -> str:
    """The stored digest of a composed file: sha256 over the parts' binary sha256 digests in
    file order, then `-<number of parts>` (like an S3 multipart ETag). It identifies the exact
    bytes and part layout but is not the sha256 of the content, hence the suffix.
    """
    outer = hashlib.sha256()
    for part in parts:
        outer.update(bytes.fromhex(part.sha256))
    return f"{outer.hexdigest()}-{len(parts)}"


@dataclass(frozen=True)
class UploadView:
    """An Upload as a client sees it, with its File once completed."""

    upload: UploadRecord
    file: FileRecord | None = None


@dataclass(eq=False)
class UploadService:
    """The operations of the Uploads API. Knows nothing of HTTP."""

    settings: Settings
    blobs: BlobStore
    metadata: MetadataStore
    _: KW_ONLY
    files: FileService
    quotas: QuotaService
    clock: Clock

    # rules ---------------------------------------------------------------------------------
    def size_limit(self, purpose: str) -> int:
        """The largest `bytes` an Upload of this purpose may declare."""
        limit = self.settings.upload_max_bytes
        if purpose == "batch":
            # The batch rule of POST /files applies to the File an Upload produces.
            limit = min(limit, self.files.size_limit(purpose))
        return limit

    def too_large(self, purpose: str, size: int) -> FileTooLarge:
        if purpose == "batch" and size <= self.settings.upload_max_bytes:
            return self.files.too_large(purpose, param="bytes")
        limit = self.settings.upload_max_bytes
        return FileTooLarge(
            f"Upload is too large: bytes is {size}, the maximum is {limit} bytes.", param="bytes"
        )

    def part_too_large(self) -> FileTooLarge:
        limit = self.settings.upload_part_max_bytes
        return FileTooLarge(
            f"Part is too large. The maximum size of an upload part is {limit} bytes.",
            param=PART_PARAM,
        )

    def part_overflows(self, upload: UploadRecord, part_size: int) -> InvalidRequest:
        return InvalidRequest(
            f"Part is too large: upload {upload.id} was created with bytes={upload.bytes} and "
            f"already has {upload.received_bytes} bytes; {part_size} more would exceed it.",
            param=PART_PARAM,
        )

    def _check_create(self, filename: str, purpose: str, size: int, mime_type: str) -> str:
        """The rules `create_upload` checks up front; returns the filename to store."""
        if not filename.strip():
            raise InvalidRequest("'filename' must not be empty", param="filename")
        self.files.check_purpose(purpose)
        if size < 0:
            raise InvalidRequest(f"{size} is less than the minimum of 0 - 'bytes'", param="bytes")
        if size > self.size_limit(purpose):
            raise self.too_large(purpose, size)
        filename = _clean_filename(filename)
        self.files.check_file_type(purpose, filename, param="filename")
        if len(mime_type) > 255 or not _MIME_TYPE.fullmatch(mime_type):
            raise InvalidRequest(
                f"Invalid mime_type {json.dumps(mime_type[:100], ensure_ascii=False)}: expected "
                "a MIME type such as 'application/jsonl'",
                param="mime_type",
            )
        return filename

    def _check_md5(self, md5: str | None) -> str | None:
        if md5 is None:
            return None
        if not _MD5.fullmatch(md5):
            raise InvalidRequest(
                f"Invalid md5 {json.dumps(md5[:100], ensure_ascii=False)}: expected 32 "
                "hexadecimal digits",
                param="md5",
            )
        return md5.lower()

    # reading -------------------------------------------------------------------------------
    async def _get(self, project_id: str, upload_id: str) -> UploadRecord:
        upload = await self.metadata.get_upload(project_id, upload_id)
        if upload is None:
            raise UploadNotFound(upload_id)
        return await self._settle(upload)

    async def _settle(self, upload: UploadRecord) -> UploadRecord:
        """Finish a completion that published its File but crashed before marking the Upload."""
        if upload.status != "pending" or upload.file_id is None:
            return upload
        published = await self.metadata.get_file(
            upload.project_id, upload.file_id, self.clock.now()
        )
        if published is None:
            return upload
        done = await self.metadata.finish_upload_completion(upload.id, upload.file_id)
        if done is None:
            return upload
        await self._drop_parts(upload.id)
        return done

    async def _view(self, upload: UploadRecord) -> UploadView:
        """What the client sees: the File of a completed Upload, expiry applied."""
        now = self.clock.now()
        upload = replace(upload, status=upload.status_at(now))
        if upload.status != "completed" or upload.file_id is None:
            return UploadView(upload)
        return UploadView(
            upload, await self.metadata.get_file(upload.project_id, upload.file_id, now)
        )

    def _state_error(self, upload: UploadRecord, action: str) -> UploadStateError:
        status = upload.status_at(self.clock.now())
        if status == "pending":
            # Only reached when a concurrent request changed the Upload under this one.
            return UploadStateError(
                f"Upload {upload.id} is being completed by another request; retry to get the "
                "result."
            )
        return UploadStateError(f"Upload {upload.id} is {status} and can no longer {action}.")

    async def explain_refused_part(self, upload: UploadRecord, part_size: int) -> InvalidRequest:
        """Why the atomic part insert said no: the Upload's state, or the declared size."""
        current = await self._get(upload.project_id, upload.id)
        if current.status_at(self.clock.now()) != "pending":
            return self._state_error(current, "accept parts")
        return self.part_overflows(current, part_size)

    # operations ----------------------------------------------------------------------------
    async def create_upload(
        self,
        project_id: str,
        *,
        filename: str,
        purpose: str,
        bytes: int,
        mime_type: str,
        expires_after: int | None = None,
    ) -> UploadView:
        """Check everything that can be checked up front; a pending Upload.

        `bytes` is the size the File will have; `expires_after` the File's lifetime in seconds
        from its creation (None: the purpose's default).
        """
        size = bytes
        filename = self._check_create(filename, purpose, size, mime_type)
        file_expires_after = self.files.expiry_seconds(expires_after, purpose)
        # The declared bytes are held against the project's quota for the Upload's lifetime (a
        # little longer, so the hold outlives a completion that starts at the last second).
        held = await self.quotas.reserve(
            project_id,
            size,
            lease_seconds=self.settings.upload_expiry_seconds + QUOTA_MARGIN,
            param="bytes",
        )
        created_at = self.clock.now()
        record = UploadRecord(
            id=new_upload_id(),
            project_id=project_id,
            filename=filename,
            purpose=purpose,
            bytes=size,
            mime_type=mime_type,
            created_at=created_at,
            expires_at=created_at + self.settings.upload_expiry_seconds,
            status="pending",
            file_expires_after=file_expires_after,
            reservation_id=held.id,
        )
        try:
            await self.metadata.insert_upload(record)
        except BaseException:
            await self.quotas.release(held)
            raise
        return UploadView(record)

    async def add_upload_part(self, project_id: str, upload_id: str) -> PartUpload:
        """Begin adding a part; the caller streams its bytes in and calls finish() (or abort())."""
        upload = await self._get(project_id, upload_id)
        if upload.status_at(self.clock.now()) != "pending":
            raise self._state_error(upload, "accept parts")
        return PartUpload(self, upload)

    async def complete_upload(
        self, project_id: str, upload_id: str, part_ids: list[str], md5: str | None = None
    ) -> UploadView:
        """Compose the parts in `part_ids` order into a File; `md5` (hex), when given, must be
        the md5 of the composed bytes."""
        md5 = self._check_md5(md5)
        upload = await self._get(project_id, upload_id)
        if upload.status == "completed":
            return await self._view(upload)  # the SDK retries; answer the same
        if upload.status_at(self.clock.now()) != "pending":
            raise self._state_error(upload, "be completed")
        ordered = self._ordered_parts(
            upload, part_ids, await self.metadata.list_upload_parts(upload.id)
        )
        file_id = new_file_id()
        if not await self.metadata.start_upload_completion(upload.id, file_id):
            raise self._state_error(await self._get(project_id, upload_id), "be completed")
        blob_key = new_blob_key()
        leases = self.files.leases
        await leases.begin(blob_key, "compose")
        await leases.step("compose.intent", blob_key)
        try:
            info = await self.blobs.compose(blob_key, [p.blob_key for p in ordered])
        except BlobNotFound:
            await self.files.discard_blob(blob_key)
            # Parts vanish only when the Upload was cancelled or expired meanwhile.
            current = await self._get(project_id, upload_id)
            if current.status_at(self.clock.now()) != "pending":
                raise self._state_error(current, "be completed") from None
            raise
        except BaseException:
            await self.files.discard_blob(blob_key)
            raise
        await leases.step("compose.composed", blob_key)
        try:
            if info.size != upload.bytes:
                raise StorageError(
                    f"Composed {info.size} bytes for upload {upload.id}, expected {upload.bytes}"
                )
            if md5 is not None:
                actual = await self._md5(blob_key)
                if actual != md5:
                    raise InvalidRequest(
                        f"md5 mismatch: the uploaded bytes have md5 {actual}, "
                        f"but the request says {md5}.",
                        param="md5",
                    )
        except BaseException:
            await self.files.discard_blob(blob_key)
            raise
        record = await self.files.publish_file(
            project_id,
            upload.purpose,
            upload.filename,
            blob_key,
            info.size,
            composite_sha256(ordered),
            upload.file_expires_after,
            file_id=file_id,
            held=self._held(upload),
        )
        done = await self.metadata.finish_upload_completion(upload.id, file_id)
        if done is None:
            # A cancel, the expiry or a concurrent completion got there first: take ours back.
            await self.files.delete_file(project_id, record.id)
            current = await self._get(project_id, upload_id)
            if current.status == "completed":
                return await self._view(current)
            raise self._state_error(current, "be completed")
        await self._drop_parts(upload.id)
        return UploadView(done, record)

    def _held(self, upload: UploadRecord) -> Held | None:
        """The Upload's quota hold, for publish_file to settle with the File's row."""
        if upload.reservation_id is None:
            return None
        return self.quotas.held(upload.reservation_id, upload.project_id, upload.bytes)

    def _ordered_parts(
        self, upload: UploadRecord, part_ids: list[str], parts: list[UploadPartRecord]
    ) -> list[UploadPartRecord]:
        by_id = {part.id: part for part in parts}
        seen: set[str] = set()
        ordered: list[UploadPartRecord] = []
        for part_id in part_ids:
            if part_id in seen:
                raise InvalidRequest(f"Duplicate part id in part_ids: {part_id}", param="part_ids")
            seen.add(part_id)
            part = by_id.get(part_id)
            if part is None:
                raise InvalidRequest(
                    f"No such Part object: {part_id} (not a part of upload {upload.id})",
                    param="part_ids",
                )
            ordered.append(part)
        total = sum(part.bytes for part in ordered)
        if total != upload.bytes:
            raise InvalidRequest(
                f"The parts in part_ids total {total} bytes, but upload {upload.id} was created "
                f"with bytes={upload.bytes}.",
                param="part_ids",
            )
        return ordered

    async def _md5(self, blob_key: str) -> str:
        digest = hashlib.md5(usedforsecurity=False)
        async for chunk in self.blobs.read(blob_key):
            await anyio.to_thread.run_sync(digest.update, chunk)
        return digest.hexdigest()

    async def cancel_upload(self, project_id: str, upload_id: str) -> UploadView:
        """`POST /uploads/{id}/cancel`: no more parts; the parts' bytes are removed."""
        upload = await self._get(project_id, upload_id)
        if upload.status == "cancelled":
            return await self._view(upload)
        if upload.status_at(self.clock.now()) != "pending":
            raise self._state_error(upload, "be cancelled")
        done = await self.metadata.cancel_upload(project_id, upload_id, self.clock.now())
        if done is None:
            current = await self._get(project_id, upload_id)
            if current.status == "cancelled":
                return await self._view(current)
            raise self._state_error(current, "be cancelled")
        await self.quotas.release(self._held(done))
        await self._drop_parts(upload.id)
        return UploadView(done)

    async def _drop_parts(self, upload_id: str) -> None:
        """Delete the parts of a finished Upload: bytes first, then rows (the sweeper retries)."""
        try:
            parts = await self.metadata.list_upload_parts(upload_id)
            for part in parts:
                await self.blobs.delete(part.blob_key)
            await self.metadata.delete_upload_parts([part.id for part in parts])
        except Exception:
            log.exception("could not remove the parts of %s; the sweeper will", upload_id)
