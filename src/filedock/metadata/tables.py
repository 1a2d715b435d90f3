"""The tables, each declared once over its record (columns = the record's fields, in order).

Adding a column to `files` is a migration plus one field of `FileRecord`: every SELECT list,
INSERT and row mapping below follows from the declaration.
"""

from __future__ import annotations

from dataclasses import dataclass

from filedock.metadata.table import Table
from filedock.models import (
    ApiKeyRecord,
    FileRecord,
    ProjectRecord,
    UploadPartRecord,
    UploadRecord,
)


@dataclass(frozen=True)
class ReservationRow:
    """A quota reservation as stored (the domain `Reservation` plus when it was taken)."""

    id: str
    project_id: str
    bytes: int
    created_at: int
    expires_at: int


@dataclass(frozen=True)
class FileReportRow:
    """A file's validation report (JSON text)."""

    file_id: str
    report: str
    created_at: int


# `seq` is the database's insertion sequence: the tie-breaker of listings.
FILES = Table("files", FileRecord, read_only=("seq",))
API_KEYS = Table("api_keys", ApiKeyRecord)
# The counters are kept by the database (used_bytes, triggers of migration 0004) and by the
# quota methods (reserved_bytes), never written from a record.
PROJECTS = Table("projects", ProjectRecord, read_only=("used_bytes", "reserved_bytes"))
RESERVATIONS = Table("quota_reservations", ReservationRow)
UPLOADS = Table("uploads", UploadRecord)
UPLOAD_PARTS = Table("upload_parts", UploadPartRecord)
FILE_REPORTS = Table("file_reports", FileReportRow)

# A file row a client can see at time `?`: neither tombstoned nor expired.
LIVE = "deleted_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
