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
