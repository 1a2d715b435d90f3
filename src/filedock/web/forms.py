"""The multipart forms of the API: field names and their rules, fed to the services' uploads.

`feed_multipart` (web/multipart.py) hands each part to one of these; they turn form fields into
typed calls on a FileUpload or PartUpload, which know nothing of forms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from starlette.requests import Request

from filedock.errors import InvalidRequest
from filedock.models import FileRecord, UploadPartRecord
from filedock.services.intake import FileUpload, PartUpload
from filedock.web.multipart import FormConsumer, feed_multipart, multipart_boundary
from filedock.web.schemas import expires_after_seconds

FILE_FIELDS = ("file", "purpose", "expires_after[anchor]", "expires_after[seconds]")
PART_FIELD = "data"

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Form(FormConsumer, Protocol[R_co]):
    """A form a route receives: fed its body, then finished (or aborted on any failure)."""

    # Text fields streamed like files (see feed_multipart).
    stream_text_fields: tuple[str, ...]

    async def finish(self) -> R_co:
        """The body is complete: check what is required and publish the result."""

    async def abort(self) -> None:
        """Remove what was written (idempotent)."""


def multipart_request(
    request: Request, limit: int, too_large: Callable[[], Exception]
) -> tuple[bytes, int | None]:
    """The boundary of a multipart body and the size declared in Content-Length (None: absent
    or not a number); a body declared larger than `limit` is refused before it is read."""
    boundary = multipart_boundary(request.headers.get("content-type"))
    header = request.headers.get("content-length")
    declared = int(header) if header and header.isdigit() else None
    if declared is not None and declared > limit:
        # Answer before reading the body; the server discards what the client still sends.
        raise too_large()
    return boundary, declared


async def receive_form(request: Request, boundary: bytes, form: Form[R]) -> R:
    """Feed the request's body to `form` and finish it; abort it if anything fails."""
    try:
        await feed_multipart(
            request.stream(), boundary, form, stream_text_fields=form.stream_text_fields
        )
        return await form.finish()
    except BaseException:
        # Includes ClientDisconnect, which the app-wide handler logs as a client event.
        await form.abort()
        raise


def _unexpected(name: str) -> InvalidRequest:
    return InvalidRequest(
        f"Additional properties are not allowed ('{name}' was unexpected)", param=name
    )


class FileForm:
    """`POST /v1/files`: `file` (the bytes), `purpose`, optional `expires_after[...]`."""

    stream_text_fields: tuple[str, ...] = ()

    def __init__(self, upload: FileUpload) -> None:
        self.upload = upload
        self.fields: dict[str, str] = {}

    def check_field_name(self, name: str, is_file: bool) -> None:
        """Called at the start of each part, before its value is read."""
        if name not in FILE_FIELDS:
            raise _unexpected(name)
        if is_file and name != "file":
            raise InvalidRequest(f"'{name}' must be a text field, not a file", param=name)
        if name == "file" and not is_file:
            raise InvalidRequest(
                "'file' must be a file part (a filename is required)", param="file"
            )

    def add_field(self, name: str, value: str) -> None:
        if name not in FILE_FIELDS:
            raise _unexpected(name)
        if name == "file":
            raise InvalidRequest("'file' must be a file, not a text field", param="file")
        if name in self.fields:
            raise InvalidRequest(f"'{name}' was given more than once", param=name)
        self.fields[name] = value
        if name == "purpose":
            self.upload.set_purpose(value)

    async def open_file(self, filename: str) -> None:
        if self.upload.has_bytes:
            raise InvalidRequest("Only one 'file' part is allowed", param="file")
        await self.upload.open(filename)

    async def write(self, data: bytes | memoryview) -> None:
        await self.upload.write(data)

    async def finish(self) -> FileRecord:
        """The form is complete: check what is required, then publish the file."""
        if not self.upload.has_bytes:
            raise InvalidRequest("'file' is a required property", param="file")
        if self.upload.purpose is None:
            raise InvalidRequest("'purpose' is a required property", param="purpose")
        expires_after = expires_after_seconds(
            self.fields.get("expires_after[anchor]"), self.fields.get("expires_after[seconds]")
        )
        return await self.upload.finish(expires_after)

    async def abort(self) -> None:
        await self.upload.abort()


class PartForm:
    """`POST /v1/uploads/{id}/parts`: one field, `data`, a file or a text field of any size."""

    # curl's `-F data=...` sends a part's bytes as a text field of any size.
    stream_text_fields: tuple[str, ...] = (PART_FIELD,)

    def __init__(self, part: PartUpload) -> None:
        self.part = part

    def check_field_name(self, name: str, is_file: bool) -> None:
        if name != PART_FIELD:
            raise _unexpected(name)

    def add_field(self, name: str, value: str) -> None:
        # Only `data` passes check_field_name, and it is always streamed.
        raise InvalidRequest(f"'{name}' must carry the part's bytes", param=name)

    async def open_file(self, filename: str) -> None:
        if self.part.has_bytes:
            raise InvalidRequest(f"Only one '{PART_FIELD}' field is allowed", param=PART_FIELD)
        await self.part.open()

    async def write(self, data: bytes | memoryview) -> None:
        await self.part.write(data)

    async def finish(self) -> UploadPartRecord:
        if not self.part.has_bytes:
            raise InvalidRequest(f"'{PART_FIELD}' is a required property", param=PART_FIELD)
        return await self.part.finish()

    async def abort(self) -> None:
        await self.part.abort()
