"""Domain objects and the fixed vocabularies of the Files API (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class FileRecord:
    """One stored file: a metadata row plus the key of its bytes in the blob store."""

    id: str
    project_id: str
    purpose: str
    filename: str
    bytes: int
    created_at: int
    expires_at: int | None
    status: str
    status_details: str | None
    sha256: str
    blob_key: str
    seq: int = 0

    def to_openai(self) -> dict[str, Any]:
        """The File object, keys in api.openai.com's order."""
        return {
            "object": "file",
            "id": self.id,
            "purpose": self.purpose,
            "filename": self.filename,
            "bytes": self.bytes,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "status": self.status,
            "status_details": self.status_details,
        }


@dataclass(frozen=True)
class FilePage:
    """One page of a file listing."""

    files: list[FileRecord]
    has_more: bool

    def to_openai(self) -> dict[str, Any]:
        data = [f.to_openai() for f in self.files]
        return {
            "object": "list",
            "data": data,
            "has_more": self.has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }


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
