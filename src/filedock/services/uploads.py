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
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import anyio.to_thread

from filedock.blobs.base import BlobStore, BlobWriter
from filedock.errors import (
    BlobNotFound,
    FileTooLarge,
    InvalidRequest,
    StorageError,
    StorageQuotaExceeded,
    UploadNotFound,
    UploadStateError,
)
from filedock.ids import new_blob_key, new_file_id, new_part_id, new_upload_id
from filedock.metadata.base import MetadataStore
from filedock.models import FileRecord, UploadPartRecord, UploadRecord
from filedock.services.files import FileService
from filedock.services.quotas import Held
from filedock.settings import Settings

log = logging.getLogger("filedock.uploads")

CREATE_FIELDS = ("filename", "purpose", "bytes", "mime_type", "expires_after")
CREATE_REQUIRED = ("filename", "purpose", "bytes", "mime_type")
COMPLETE_FIELDS = ("part_ids", "md5")
EXPIRES_AFTER_FIELDS = ("anchor", "seconds")
PART_FIELD = "data"
# Seconds a quota hold outlives its Upload's expiry (then the sweeper frees it).
QUOTA_MARGIN = 300
# `type/subtype[; params]` or a bare token such as `pdf` (the SDK's own docs pass mime_type="pdf").
_MIME_TYPE = re.compile(r"[!-~]+(\s*;[ -~]*)?")
_MD5 = re.compile(r"[0-9a-fA-F]{32}")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _not_of_type(value: Any, kind: str, param: str) -> InvalidRequest:
    return InvalidRequest(f"{_json(value)} is not of type '{kind}' - '{param}'", param=param)


def _extra_properties(body: Mapping[str, Any], allowed: tuple[str, ...], prefix: str = "") -> None:
    for key in body:
        if key not in allowed:
            raise InvalidRequest(
                f"Additional properties are not allowed ('{key}' was unexpected)",
                param=prefix + key,
            )


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

    def to_openai(self) -> dict[str, Any]:
        return self.upload.to_openai(self.file)


@dataclass
class PartUpload:
    """One `POST /uploads/{id}/parts` in progress: the form field `data` streams into a blob.

    The web layer feeds it the multipart body (it is a form consumer like FileUpload); the part
    counts only once `finish()` has made the bytes durable and the row is in.
    """

    service: UploadService
    upload: UploadRecord
    _writer: BlobWriter | None = None
    _done: bool = False

    def check_field_name(self, name: str, is_file: bool) -> None:
        if name != PART_FIELD:
            raise InvalidRequest(
                f"Additional properties are not allowed ('{name}' was unexpected)", param=name
            )

    def add_field(self, name: str, value: str) -> None:
        # Only `data` passes check_field_name, and it is always streamed.
        raise InvalidRequest(f"'{name}' must carry the part's bytes", param=name)

    async def open_file(self, filename: str) -> None:
        if self._writer is not None:
            raise InvalidRequest(f"Only one '{PART_FIELD}' field is allowed", param=PART_FIELD)
        leases = self.service.files.leases
        key = new_blob_key()
        await leases.begin(key, "part")
        await leases.step("part.intent", key)
        try:
            self._writer = await self.service.blobs.begin_write(key)
        except BaseException:
            await leases.release(key)
            raise
        await leases.step("part.writing", key)

    async def write(self, data: bytes | memoryview) -> None:
        assert self._writer is not None
        size = self._writer.size + len(data)
        if size > self.service.settings.upload_part_max_bytes:
            raise self.service.part_too_large()
        # An early answer for the common case; the binding check is atomic in finish().
        if self.upload.received_bytes + size > self.upload.bytes:
            raise self.service.part_overflows(self.upload, size)
        await self._writer.write(data)

    async def finish(self) -> UploadPartRecord:
        """Make the bytes durable, then add the part (atomically within the declared size)."""
        try:
            if self._writer is None:
                raise InvalidRequest(f"'{PART_FIELD}' is a required property", param=PART_FIELD)
            await self.service.files.leases.step("part.received", self._writer.key)
            info = await self._writer.commit()
        except BaseException:
            await self.abort()
            raise
        self._done = True
        files = self.service.files
        await files.leases.step("part.committed", info.key)
        part = UploadPartRecord(
            id=new_part_id(),
            upload_id=self.upload.id,
            bytes=info.size,
            sha256=info.sha256,
            blob_key=info.key,
            created_at=int(time.time()),
        )
        try:
            files.leases.check(info.key)
            # The insert consumes the blob's intent in the same statement (migration 0005).
            added = await self.service.metadata.insert_upload_part(part, part.created_at)
        except BaseException:
            await files.discard_blob(info.key)
            raise
        if not added:
            await files.discard_blob(info.key)
            raise await self.service.explain_refused_part(self.upload, info.size)
        files.leases.published(info.key)
        await files.leases.step("part.inserted", info.key)
        return part

    async def abort(self) -> None:
        if self._writer is not None and not self._done:
            self._done = True
            await self._writer.abort()
            await self.service.files.leases.release(self._writer.key)


class UploadService:
    """The operations of the Uploads API. Knows nothing of HTTP."""

    def __init__(
        self, settings: Settings, files: FileService, blobs: BlobStore, metadata: MetadataStore
    ) -> None:
        self.settings = settings
        self.files = files
        self.blobs = blobs
        self.metadata = metadata

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
            error = self.files.too_large(purpose)
            error.param = "bytes"
            return error
        limit = self.settings.upload_max_bytes
        return FileTooLarge(
            f"Upload is too large: bytes is {size}, the maximum is {limit} bytes.", param="bytes"
        )

    def part_too_large(self) -> FileTooLarge:
        limit = self.settings.upload_part_max_bytes
        return FileTooLarge(
            f"Part is too large. The maximum size of an upload part is {limit} bytes.",
            param=PART_FIELD,
        )

    def part_overflows(self, upload: UploadRecord, part_size: int) -> InvalidRequest:
        return InvalidRequest(
            f"Part is too large: upload {upload.id} was created with bytes={upload.bytes} and "
            f"already has {upload.received_bytes} bytes; {part_size} more would exceed it.",
            param=PART_FIELD,
        )

    def _parse_create(self, body: Mapping[str, Any]) -> tuple[str, str, int, str, int | None]:
        _extra_properties(body, CREATE_FIELDS)
        for name in CREATE_REQUIRED:
            if name not in body:
                raise InvalidRequest(f"'{name}' is a required property", param=name)
        filename, purpose, size, mime_type = (body[name] for name in CREATE_REQUIRED)
        if not isinstance(filename, str):
            raise _not_of_type(filename, "string", "filename")
        if not filename.strip():
            raise InvalidRequest("'filename' must not be empty", param="filename")
        if not isinstance(purpose, str):
            raise _not_of_type(purpose, "string", "purpose")
        self.files.check_purpose(purpose)
        if not isinstance(size, int) or isinstance(size, bool):
            raise _not_of_type(size, "integer", "bytes")
        if size < 0:
            raise InvalidRequest(f"{size} is less than the minimum of 0 - 'bytes'", param="bytes")
        if size > self.size_limit(purpose):
            raise self.too_large(purpose, size)
        filename = _clean_filename(filename)
        try:
            self.files.check_file_type(purpose, filename)
        except InvalidRequest as exc:
            exc.param = "filename"
            raise
        if not isinstance(mime_type, str):
            raise _not_of_type(mime_type, "string", "mime_type")
        if len(mime_type) > 255 or not _MIME_TYPE.fullmatch(mime_type):
            raise InvalidRequest(
                f"Invalid mime_type {_json(mime_type[:100])}: expected a MIME type such as "
                "'application/jsonl'",
                param="mime_type",
            )
        return filename, purpose, size, mime_type, self._parse_expires_after(body, purpose)

    def _parse_expires_after(self, body: Mapping[str, Any], purpose: str) -> int | None:
        raw = body.get("expires_after")
        if raw is None:
            return self.files.parse_expires_after(None, None, purpose)
        if not isinstance(raw, dict):
            raise _not_of_type(raw, "object", "expires_after")
        _extra_properties(raw, EXPIRES_AFTER_FIELDS, "expires_after.")
        anchor, seconds = raw.get("anchor"), raw.get("seconds")
        if anchor is not None and not isinstance(anchor, str):
            raise _not_of_type(anchor, "string", "expires_after.anchor")
        if seconds is not None and (
            isinstance(seconds, bool) or not isinstance(seconds, int | str)
        ):
            raise _not_of_type(seconds, "integer", "expires_after.seconds")
        return self.files.parse_expires_after(
            anchor, None if seconds is None else str(seconds), purpose
        )

    def _parse_complete(self, body: Mapping[str, Any]) -> tuple[list[str], str | None]:
        _extra_properties(body, COMPLETE_FIELDS)
        if "part_ids" not in body:
            raise InvalidRequest("'part_ids' is a required property", param="part_ids")
        part_ids = body["part_ids"]
        if not isinstance(part_ids, list):
            raise _not_of_type(part_ids, "array", "part_ids")
        for item in part_ids:
            if not isinstance(item, str):
                raise _not_of_type(item, "string", "part_ids")
        md5 = body.get("md5")
        if md5 is not None:
            if not isinstance(md5, str):
                raise _not_of_type(md5, "string", "md5")
            if not _MD5.fullmatch(md5):
                raise InvalidRequest(
                    f"Invalid md5 {_json(md5[:100])}: expected 32 hexadecimal digits",
                    param="md5",
                )
            md5 = md5.lower()
        return part_ids, md5

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
            upload.project_id, upload.file_id, int(time.time())
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
        now = int(time.time())
        upload = replace(upload, status=upload.status_at(now))
        if upload.status != "completed" or upload.file_id is None:
            return UploadView(upload)
        return UploadView(
            upload, await self.metadata.get_file(upload.project_id, upload.file_id, now)
        )

    def _state_error(self, upload: UploadRecord, action: str) -> UploadStateError:
        status = upload.status_at(int(time.time()))
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
        if current.status_at(int(time.time())) != "pending":
            return self._state_error(current, "accept parts")
        return self.part_overflows(current, part_size)

    # operations ----------------------------------------------------------------------------
    async def create_upload(self, project_id: str, body: Mapping[str, Any]) -> UploadView:
        """`POST /uploads`: check everything that can be checked up front; a pending Upload."""
        filename, purpose, size, mime_type, file_expires_after = self._parse_create(body)
        # The declared bytes are held against the project's quota for the Upload's lifetime (a
        # little longer, so the hold outlives a completion that starts at the last second).
        try:
            held = await self.files.quotas.reserve(
                project_id, size, lease_seconds=self.settings.upload_expiry_seconds + QUOTA_MARGIN
            )
        except StorageQuotaExceeded as exc:
            exc.param = "bytes"
            raise
        created_at = int(time.time())
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
            await self.files.quotas.release(held)
            raise
        return UploadView(record)

    async def add_upload_part(self, project_id: str, upload_id: str) -> PartUpload:
        """Begin a `POST /uploads/{id}/parts`; the caller feeds it the body and calls finish()."""
        upload = await self._get(project_id, upload_id)
        if upload.status_at(int(time.time())) != "pending":
            raise self._state_error(upload, "accept parts")
        return PartUpload(self, upload)

    async def complete_upload(
        self, project_id: str, upload_id: str, body: Mapping[str, Any]
    ) -> UploadView:
        """`POST /uploads/{id}/complete`: compose the parts in order into a File."""
        part_ids, md5 = self._parse_complete(body)
        upload = await self._get(project_id, upload_id)
        if upload.status == "completed":
            return await self._view(upload)  # the SDK retries; answer the same
        if upload.status_at(int(time.time())) != "pending":
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
            if current.status_at(int(time.time())) != "pending":
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
        return Held(upload.reservation_id, upload.project_id, upload.bytes, time.monotonic())

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
        if upload.status_at(int(time.time())) != "pending":
            raise self._state_error(upload, "be cancelled")
        done = await self.metadata.cancel_upload(project_id, upload_id, int(time.time()))
        if done is None:
            current = await self._get(project_id, upload_id)
            if current.status == "cancelled":
                return await self._view(current)
            raise self._state_error(current, "be cancelled")
        await self.files.quotas.release(self._held(done))
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
