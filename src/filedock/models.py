"""Domain objects and the fixed vocabularies of the Files API (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Generic, TypeVar

from msgspec import Struct

UPLOAD_PURPOSES: tuple[str, ...] = (
    "fine-tune",
    "assistants",
    "batch",
    "user_data",
    "vision",
    "evals",
)
SYSTEM_PURPOSES: tuple[str, ...] = ("assistants_output", "batch_output", "fine-tune-results")
ALL_PURPOSES: tuple[str, ...] = UPLOAD_PURPOSES + SYSTEM_PURPOSES
FILE_STATUSES: tuple[str, ...] = ("uploaded", "processed", "error")
DEFAULT_PROJECT_ID = "proj_default"
ROLE_ADMIN = "admin"
ROLE_MEMBER = "member"
KEY_ROLES: tuple[str, ...] = (ROLE_MEMBER, ROLE_ADMIN)
R = TypeVar("R")


class FileFields(Struct, frozen=True):
    """What a client sees of a stored file, in the Files API's order (the wire `FileObject`
    adds only its `object` tag)."""

    id: str
    purpose: str
    filename: str
    bytes: int
    created_at: int
    expires_at: int | None
    status: str
    status_details: str | None


class FileRecord(FileFields, frozen=True):
    """One stored file: a metadata row (columns in field order) plus the key of its bytes in
    the blob store."""

    project_id: str
    sha256: str
    blob_key: str
    seq: int = 0


@dataclass(frozen=True)
class Page(Generic[R]):
    """One page of a listing."""

    data: list[R]
    has_more: bool


@dataclass(frozen=True)
class ApiKeyRecord:
    """A stored API key: only its hash and a short prefix are kept."""

    id: str
    project_id: str
    name: str
    prefix: str
    key_hash: str
    created_at: int
    revoked_at: int | None = None
    expires_at: int | None = None
    role: str = "member"

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN


# projects and quotas


@dataclass(frozen=True)
class ProjectRecord:
    """A project: its name, limits (None = the server-wide default) and storage counters."""

    id: str
    name: str
    created_at: int
    archived_at: int | None = None
    storage_quota_bytes: int | None = None
    requests_per_minute: int | None = None
    uploads_per_minute: int | None = None
    used_bytes: int = 0
    reserved_bytes: int = 0


@dataclass(frozen=True)
class Reservation:
    """Bytes held against a project's quota for an upload in flight, until `expires_at`."""

    id: str
    project_id: str
    bytes: int
    expires_at: int


class FileTally(Struct, frozen=True):
    """Live files counted together (as the usage object shows them)."""

    bytes: int
    file_count: int


class PurposeUsage(FileTally, frozen=True):
    """The live files of one purpose."""

    purpose: str


@dataclass(frozen=True)
class ProjectUsage:
    """What a project stores: live files by purpose, plus the quota counters."""

    project_id: str
    quota_bytes: int
    used_bytes: int
    reserved_bytes: int
    purposes: list[PurposeUsage]


UPLOAD_STATUSES: tuple[str, ...] = ("pending", "completed", "cancelled", "expired")


@dataclass(frozen=True)
class UploadRecord:
    """One Upload (POST /v1/uploads): declared size, bytes received so far, and its outcome.

    `file_id` is set when a completion starts (the id the File will get) and stays once the
    Upload is completed; `received_bytes` is the sum of its parts, never above `bytes`;
    `reservation_id` is the quota hold of `bytes` taken at creation.
    """

    id: str
    project_id: str
    filename: str
    purpose: str
    bytes: int
    mime_type: str
    created_at: int
    expires_at: int
    status: str
    file_expires_after: int | None
    received_bytes: int = 0
    file_id: str | None = None
    reservation_id: str | None = None

    def status_at(self, now: int) -> str:
        """The status a client sees: a pending Upload past its expiry is expired."""
        if self.status == "pending" and now >= self.expires_at:
            return "expired"
        return self.status


@dataclass(frozen=True)
class UploadPartRecord:
    """One part of an Upload: its bytes live in the blob store under `blob_key`."""

    id: str
    upload_id: str
    bytes: int
    sha256: str
    blob_key: str
    created_at: int


# --- Batch API -----------------------------------------------------------------------------
BATCH_ENDPOINTS: tuple[str, ...] = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
)
BATCH_TERMINAL: tuple[str, ...] = ("completed", "failed", "expired", "cancelled")


@dataclass(frozen=True)
class BatchUsage:
    """Token counts summed from the engine's responses."""

    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True)
class BatchLifecycle:
    """A batch's input, state and timestamps: the run of the Batch object's fields that is
    shown as stored (the wire `BatchObject` derives from this declaration)."""

    input_file_id: str
    completion_window: str
    status: str
    output_file_id: str | None
    error_file_id: str | None
    created_at: int
    in_progress_at: int | None
    expires_at: int | None
    finalizing_at: int | None
    completed_at: int | None
    failed_at: int | None
    expired_at: int | None
    cancelling_at: int | None
    cancelled_at: int | None


@dataclass(frozen=True)
class BatchRecord(BatchLifecycle):
    """One batch: its row in `batches` (field order = column order, the lifecycle's first;
    `seq` is the database's).

    `total`/`completed`/`failed` and the token columns are live sums while the batch runs (the
    store fills them in from the request rows) and frozen values once it has ended.
    """

    id: str
    project_id: str
    endpoint: str
    model: str | None
    total: int
    completed: int
    failed: int
    input_tokens: int | None
    cached_tokens: int | None
    output_tokens: int | None
    reasoning_tokens: int | None
    total_tokens: int | None
    errors: str | None  # JSON: [{code, message, param, line}]
    metadata: str | None  # JSON object of strings
    output_expires_after: int | None
    input_blob_key: str | None
    output_file_reserved: str | None
    error_file_reserved: str | None
    engine: str | None  # the engine chosen for the model at validation
    lease_owner: str | None
    lease_until: int | None

    @classmethod
    def new(
        cls,
        *,
        id: str,
        project_id: str,
        endpoint: str,
        input_file_id: str,
        created_at: int,
        expires_at: int,
        metadata: str | None,
        output_expires_after: int | None,
    ) -> BatchRecord:
        """A new batch's row (`validating`, window "24h"): counts at 0, every other column null."""
        given = {k: v for k, v in locals().items() if k != "cls"}
        blank = dict.fromkeys((f.name for f in fields(cls)), None)
        counts = {"total": 0, "completed": 0, "failed": 0}
        state = {"completion_window": "24h", "status": "validating"}
        return cls(**{**blank, **counts, **state, **given})

    @property
    def usage(self) -> BatchUsage | None:
        if self.total_tokens is None:
            return None
        return BatchUsage(
            self.input_tokens or 0,
            self.cached_tokens or 0,
            self.output_tokens or 0,
            self.reasoning_tokens or 0,
            self.total_tokens,
        )


@dataclass(frozen=True)
class BatchLine:
    """One request of a batch as recorded at validation: where it is in the input blob."""

    batch_id: str
    line: int
    custom_id: str
    byte_offset: int
    byte_length: int


@dataclass(frozen=True)
class ClaimedLine:
    """A request leased to one server to send (attempts counts this send)."""

    batch_id: str
    line: int
    custom_id: str
    byte_offset: int
    byte_length: int
    attempts: int
