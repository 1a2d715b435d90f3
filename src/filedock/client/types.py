"""Objects the server returns, kept field for field (the raw dict is kept too)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FileObject:
    """A File object exactly as the server sent it; `raw` holds every field, known or not."""

    id: str
    object: str
    purpose: str
    filename: str
    bytes: int
    created_at: int
    expires_at: int | None
    status: str | None
    status_details: str | None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileObject:
        return cls(
            id=data["id"],
            object=data.get("object", "file"),
            purpose=data.get("purpose", ""),
            filename=data.get("filename", ""),
            bytes=int(data.get("bytes") or 0),
            created_at=int(data.get("created_at") or 0),
            expires_at=data.get("expires_at"),
            status=data.get("status"),
            status_details=data.get("status_details"),
            raw=dict(data),
        )

    def to_dict(self) -> dict[str, Any]:
        """The object as the server sent it (key order preserved)."""
        return dict(self.raw)


@dataclass(frozen=True)
class FileDeleted:
    id: str
    object: str
    deleted: bool

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileDeleted:
        return cls(id=data["id"], object=data.get("object", "file"), deleted=bool(data["deleted"]))


@dataclass(frozen=True)
class FileList:
    """One page of a listing."""

    data: list[FileObject]
    has_more: bool
    first_id: str | None
    last_id: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FileList:
        files = [FileObject.from_dict(d) for d in data.get("data", [])]
        return cls(
            data=files,
            has_more=bool(data.get("has_more", False)),
            first_id=data.get("first_id"),
            last_id=data.get("last_id"),
        )


@dataclass(frozen=True)
class Upload:
    """An Upload object (the Uploads API); `file` is set once completed."""

    id: str
    status: str
    bytes: int
    filename: str
    purpose: str
    file: FileObject | None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Upload:
        nested = data.get("file")
        return cls(
            id=data["id"],
            status=data.get("status", ""),
            bytes=int(data.get("bytes") or 0),
            filename=data.get("filename", ""),
            purpose=data.get("purpose", ""),
            file=FileObject.from_dict(nested) if isinstance(nested, dict) else None,
            raw=dict(data),
        )


@dataclass(frozen=True)
class BatchRequestCounts:
    total: int
    completed: int
    failed: int

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> BatchRequestCounts:
        data = data or {}
        return cls(
            total=int(data.get("total") or 0),
            completed=int(data.get("completed") or 0),
            failed=int(data.get("failed") or 0),
        )


@dataclass(frozen=True)
class Batch:
    """A Batch object (the Batch API) as the server sent it; `raw` holds every field."""

    id: str
    status: str
    endpoint: str
    model: str | None
    input_file_id: str
    output_file_id: str | None
    error_file_id: str | None
    created_at: int
    expires_at: int | None
    request_counts: BatchRequestCounts
    usage: dict[str, Any] | None
    metadata: dict[str, str] | None
    errors: list[dict[str, Any]]
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Batch:
        errors = data.get("errors") or {}
        return cls(
            id=data["id"],
            status=data.get("status", ""),
            endpoint=data.get("endpoint", ""),
            model=data.get("model"),
            input_file_id=data.get("input_file_id", ""),
            output_file_id=data.get("output_file_id"),
            error_file_id=data.get("error_file_id"),
            created_at=int(data.get("created_at") or 0),
            expires_at=data.get("expires_at"),
            request_counts=BatchRequestCounts.from_dict(data.get("request_counts")),
            usage=data.get("usage"),
            metadata=data.get("metadata"),
            errors=list(errors.get("data") or []) if isinstance(errors, dict) else [],
            raw=dict(data),
        )

    @property
    def done(self) -> bool:
        """In a terminal state: nothing about it changes any more."""
        return self.status in TERMINAL_BATCH_STATES

    def to_dict(self) -> dict[str, Any]:
        return dict(self.raw)


TERMINAL_BATCH_STATES = frozenset({"completed", "failed", "expired", "cancelled"})


@dataclass(frozen=True)
class BatchList:
    """One page of `GET /batches` (newest first)."""

    data: list[Batch]
    has_more: bool
    first_id: str | None
    last_id: str | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchList:
        return cls(
            data=[Batch.from_dict(d) for d in data.get("data", [])],
            has_more=bool(data.get("has_more", False)),
            first_id=data.get("first_id"),
            last_id=data.get("last_id"),
        )
