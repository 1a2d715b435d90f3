"""Shapes of the HTTP API: request bodies and response objects, as msgspec Structs.

Requests are read by web/json_body.py (a body that does not fit is a 400 naming the field);
responses are built from the services' domain records here, fields in api.openai.com's order.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Protocol, TypeVar

from msgspec import UNSET, Meta, Struct, UnsetType, convert

from filedock.errors import InvalidRequest
from filedock.models import (
    ROLE_MEMBER,
    ApiKeyRecord,
    FileFields,
    FileRecord,
    FileTally,
    Page,
    ProjectRecord,
    ProjectUsage,
    UploadPartRecord,
    UploadRecord,
)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Integers a database column holds (SQLite and PostgreSQL BIGINT): larger ones are a 400 here,
# not an overflow in the store.
Int64 = Annotated[int, Meta(ge=INT64_MIN, le=INT64_MAX)]


# Uploads API ---------------------------------------------------------------------------------
class ExpiresAfter(Struct, forbid_unknown_fields=True):
    anchor: str | None = None
    seconds: int | str | None = None


class CreateUploadRequest(Struct, forbid_unknown_fields=True):
    filename: str
    purpose: str
    bytes: int
    mime_type: str
    expires_after: ExpiresAfter | None = None


class CompleteUploadRequest(Struct, forbid_unknown_fields=True):
    part_ids: list[str]
    md5: str | None = None


# Admin API -----------------------------------------------------------------------------------
class CreateProjectRequest(Struct, forbid_unknown_fields=True):
    name: str
    storage_quota_bytes: Int64 | None = None
    max_requests_per_1_minute: Int64 | None = None
    max_uploads_per_1_minute: Int64 | None = None


class ModifyProjectRequest(Struct, forbid_unknown_fields=True):
    """Fields left out stay as they are; a limit given as null returns to the server default."""

    name: str | UnsetType = UNSET
    storage_quota_bytes: Int64 | UnsetType | None = UNSET
    max_requests_per_1_minute: Int64 | UnsetType | None = UNSET
    max_uploads_per_1_minute: Int64 | UnsetType | None = UNSET


class CreateApiKeyRequest(Struct, forbid_unknown_fields=True):
    name: str = ""
    role: str = ROLE_MEMBER
    expires_at: Int64 | None = None


# Shared pieces -------------------------------------------------------------------------------
def expires_after_seconds(anchor: str | None, seconds: int | str | None) -> int | None:
    """The `expires_after` of a request (form fields or JSON) as seconds; None if not given.

    The range is the service's rule (FileService.expiry_seconds); this checks the shape.
    """
    if anchor is None and seconds is None:
        return None
    if anchor is None:
        raise InvalidRequest("'anchor' is a required property", param="expires_after.anchor")
    if seconds is None:
        raise InvalidRequest("'seconds' is a required property", param="expires_after.seconds")
    if anchor != "created_at":
        raise InvalidRequest(
            f"'{anchor}' is not one of ['created_at'] - 'expires_after.anchor'",
            param="expires_after.anchor",
        )
    if isinstance(seconds, int):
        return seconds
    try:
        return int(seconds.strip())
    except ValueError:
        raise InvalidRequest(
            f"'{seconds}' is not a valid integer - 'expires_after.seconds'",
            param="expires_after.seconds",
        ) from None


def query_int(query: Any, name: str, default: int) -> int:
    """An integer query parameter (`query` is a Starlette QueryParams or any mapping)."""
    raw = query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"'{raw}' is not a valid integer - '{name}'", param=name) from None


# Responses -----------------------------------------------------------------------------------
S = TypeVar("S", bound=Struct)


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_Identified)


def struct_from(kind: type[S], source: object, **values: Any) -> S:
    """A response object: `values`, and for every other field of `kind` the attribute of
    `source` with the same name (a field `source` lacks keeps its default)."""
    copied = {
        name: getattr(source, name)
        for name in kind.__struct_fields__
        if name not in values and hasattr(source, name)
    }
    return kind(**copied, **values)


def list_object(data: list[T], has_more: bool) -> ListObject[T]:
    """A list object of `data` (items with an `id`), with OpenAI's first_id and last_id."""
    return ListObject(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=has_more,
    )


class FileObject(FileFields, frozen=True, tag_field="object", tag="file"):
    """A File object: the fields clients see of a FileRecord, after their `object` tag."""


class FileList(Struct, kw_only=True):
    object: str = "list"
    data: list[FileObject]
    has_more: bool
    first_id: str | None
    last_id: str | None


class FileDeleted(Struct, kw_only=True):
    id: str
    object: str = "file"
    deleted: bool = True


class UploadObject(Struct, kw_only=True):
    id: str
    object: str = "upload"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: str
    expires_at: int
    # Only a completed Upload has the key (null if its File is gone meanwhile).
    file: FileObject | UnsetType | None = UNSET


class UploadPartObject(Struct, kw_only=True):
    id: str
    object: str = "upload.part"
    created_at: int
    upload_id: str


class ProjectObject(Struct, kw_only=True):
    """An `organization.project` plus filedock's limits (the effective values)."""

    id: str
    object: str = "organization.project"
    name: str
    created_at: int
    archived_at: int | None
    status: str
    storage_quota_bytes: int
    max_requests_per_1_minute: int
    max_uploads_per_1_minute: int


class QuotaObject(Struct):
    limit_bytes: int
    used_bytes: int
    reserved_bytes: int


class ProjectUsageObject(Struct, kw_only=True):
    object: str = "organization.project.usage"
    project_id: str
    bytes: int
    file_count: int
    purposes: dict[str, FileTally]
    quota: QuotaObject


class ApiKeyObject(Struct, kw_only=True):
    """An `organization.project.api_key` (never the secret, except once in `value` at
    creation; see docs/projects.md)."""

    object: str = "organization.project.api_key"
    redacted_value: str
    name: str
    created_at: int
    expires_at: int | None
    last_used_at: int | None = None
    id: str
    project_id: str
    role: str
    revoked_at: int | None
    value: str | UnsetType = UNSET


class ApiKeyDeleted(Struct, kw_only=True):
    object: str = "organization.project.api_key.deleted"
    id: str
    deleted: bool = True


class ListObject(Struct, Generic[T], kw_only=True):
    """A list object, in the key order of the Batch and Administration APIs."""

    object: str = "list"
    data: list[T]
    first_id: str | None
    last_id: str | None
    has_more: bool


def file_object(record: FileRecord) -> FileObject:
    # msgspec's own copy: twice as fast as struct_from (no slower than field by field), and
    # every retrieve and list runs it.
    return convert(record, FileObject, from_attributes=True)


def file_list(page: Page[FileRecord]) -> FileList:
    # The Files API's own key order (has_more before first_id), as OpenAI sends it.
    data = [file_object(f) for f in page.data]
    return FileList(
        data=data,
        has_more=page.has_more,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
    )


def upload_object(upload: UploadRecord, file: FileRecord | None = None) -> UploadObject:
    result = struct_from(UploadObject, upload)
    if upload.status == "completed":
        result.file = file_object(file) if file is not None else None
    return result


def upload_part_object(part: UploadPartRecord) -> UploadPartObject:
    return UploadPartObject(id=part.id, created_at=part.created_at, upload_id=part.upload_id)


def project_object(
    project: ProjectRecord, quota: int, requests_per_minute: int, uploads_per_minute: int
) -> ProjectObject:
    return struct_from(
        ProjectObject,
        project,
        status="archived" if project.archived_at is not None else "active",
        storage_quota_bytes=quota,
        max_requests_per_1_minute=requests_per_minute,
        max_uploads_per_1_minute=uploads_per_minute,
    )


def project_usage_object(usage: ProjectUsage) -> ProjectUsageObject:
    return ProjectUsageObject(
        project_id=usage.project_id,
        bytes=sum(p.bytes for p in usage.purposes),
        file_count=sum(p.file_count for p in usage.purposes),
        purposes={p.purpose: FileTally(p.bytes, p.file_count) for p in usage.purposes},
        quota=QuotaObject(usage.quota_bytes, usage.used_bytes, usage.reserved_bytes),
    )


def api_key_object(key: ApiKeyRecord, secret: str | None = None) -> ApiKeyObject:
    value = UNSET if secret is None else secret
    return struct_from(ApiKeyObject, key, redacted_value=key.prefix + "...", value=value)


def admin_list(data: list[Any], has_more: bool) -> ListObject[Any]:
    return list_object(data, has_more)
