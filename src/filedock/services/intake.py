"""Bytes on their way in: a file being created (FileUpload) and an Upload's part (PartUpload).

Each streams its bytes into a blob writer, enforcing the limits as the bytes arrive, and counts
only once `finish()` has made the bytes durable and inserted the row; `abort()` (idempotent)
removes what was written. They know nothing of forms: web/forms.py feeds them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from filedock.blobs.base import BlobStore, BlobWriter
from filedock.errors import InvalidRequest
from filedock.ids import new_blob_key, new_part_id
from filedock.models import FileRecord, UploadPartRecord, UploadRecord
from filedock.services.leases import BlobLeases
from filedock.services.quotas import Held

if TYPE_CHECKING:
    from filedock.services.files import FileService
    from filedock.services.uploads import UploadService

# The request field that carries a part's bytes (errors about a part's size name it).
PART_PARAM = "data"


async def _begin_blob(leases: BlobLeases, blobs: BlobStore, kind: str) -> BlobWriter:
    """The writer of a new blob of `kind` ("file" or "part"), which the ledger knows of before
    its first byte (see services/leases.py)."""
    key = new_blob_key()
    await leases.begin(key, kind)
    await leases.step(f"{kind}.intent", key)
    try:
        writer = await blobs.begin_write(key)
    except BaseException:
        await leases.release(key)
        raise
    await leases.step(f"{kind}.writing", key)
    return writer


@dataclass
class FileUpload:
    """One `create_file` in progress: its bytes stream in; the purpose may be named before or
    after them (a multipart body sends its fields in any order).

    The rules are enforced as early as they can be (purpose, size limits while streaming, quota
    held before the bytes are written); the file is published only in `finish()`, after the
    bytes are durable.
    """

    service: FileService
    project_id: str
    purpose: str | None = None
    filename: str | None = None
    _writer: BlobWriter | None = None
    _done: bool = False
    _held: Held | None = None

    async def reserve(self, declared_bytes: int | None) -> None:
        """Hold quota for the body before reading it: its declared length, or nothing yet
        (chunked bodies then reserve in blocks as bytes arrive). Raises StorageQuotaExceeded."""
        self._held = await self.service.quotas.reserve(self.project_id, declared_bytes or 0)

    def set_purpose(self, purpose: str) -> None:
        self.service.check_purpose(purpose)
        self.purpose = purpose

    @property
    def has_bytes(self) -> bool:
        """Whether the file's bytes have begun (`open` was called)."""
        return self._writer is not None

    async def open(self, filename: str) -> None:
        """The file's bytes begin; `filename` is the name to store (already made safe)."""
        if self._writer is not None:
            raise InvalidRequest("A file has only one body", param="file")
        self.filename = filename
        self._writer = await _begin_blob(self.service.leases, self.service.blobs, "file")

    async def write(self, data: bytes | memoryview) -> None:
        assert self._writer is not None
        if self._writer.size + len(data) > self.size_limit():
            raise self.service.too_large(self.purpose)
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
        return self.service.size_limit(self.purpose)

    async def finish(self, expires_after: int | None = None) -> FileRecord:
        """Validate what arrived, make the bytes durable, then insert the row.

        `expires_after`: seconds from creation until the file expires (None: the purpose's
        default, which is never for most purposes).
        """
        try:
            if self._writer is None:
                raise InvalidRequest("The file has no bytes", param="file")
            if self.purpose is None:
                raise InvalidRequest("The file has no purpose", param="purpose")
            purpose = self.purpose
            if self._writer.size > self.service.size_limit(purpose):
                raise self.service.too_large(purpose)
            filename = self.filename or "upload"
            self.service.check_file_type(purpose, filename)
            expires = self.service.expiry_seconds(expires_after, purpose)
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
                expires,
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


@dataclass
class PartUpload:
    """One `add_upload_part` in progress: the part's bytes stream into a blob.

    The part counts only once `finish()` has made the bytes durable and the row is in.
    """

    service: UploadService
    upload: UploadRecord
    _writer: BlobWriter | None = None
    _done: bool = False

    @property
    def has_bytes(self) -> bool:
        return self._writer is not None

    async def open(self) -> None:
        """The part's bytes begin."""
        if self._writer is not None:
            raise InvalidRequest("A part has only one body", param=PART_PARAM)
        self._writer = await _begin_blob(self.service.files.leases, self.service.blobs, "part")

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
                raise InvalidRequest("The part has no bytes", param=PART_PARAM)
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
            created_at=self.service.clock.now(),
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
