"""The metadata store interface: rows for files and keys, no domain rules."""

from __future__ import annotations

import abc
import re
from typing import Literal

from filedock.models import (
    ApiKeyRecord,
    FilePage,
    FileRecord,
    ProjectRecord,
    PurposeUsage,
    Reservation,
    UploadPartRecord,
    UploadRecord,
)

Order = Literal["asc", "desc"]
# Columns a listing may be sorted by (filedock's `sort` extension); ties break on insertion order.
SortKey = Literal["created_at", "filename", "bytes"]
SORT_KEYS: tuple[SortKey, ...] = ("created_at", "filename", "bytes")
FILE_ID_SHAPE = re.compile(r"file-[A-Za-z0-9]{20,40}")


def listing_filters(
    status: str | None, search: str | None, mark: str, like: str
) -> tuple[list[str], list[object]]:
    """SQL conditions (and their parameters) for the `status` and `search` list extensions.

    `search` matches a file id exactly (text shaped like an id matches only the id), or a filename
    containing it (case-insensitive);
    `mark` is the driver's placeholder, `like` its case-insensitive LIKE operator.
    """
    where: list[str] = []
    params: list[object] = []
    if status is not None:
        where.append(f"status = {mark}")
        params.append(status)
    if search and FILE_ID_SHAPE.fullmatch(search):
        # Shaped like a file id: a primary-key lookup, not a scan of every filename.
        where.append(f"id = {mark}")
        params.append(search)
    elif search:
        escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(f"(id = {mark} OR filename {like} {mark} ESCAPE '\\')")
        params.extend([search, f"%{escaped}%"])
    return where, params


ResizeOutcome = Literal["ok", "full", "missing"]


class CursorNotFound(LookupError):
    """The `after` id of a listing names no file (not even a recently deleted one)."""


class MetadataStore(abc.ABC):
    """Rows for files and API keys. Every method is safe to call from the event loop."""

    async def open(self) -> None:
        """Connect and apply migrations."""

    async def close(self) -> None:
        """Release connections."""

    async def ping(self) -> None:
        """Raise MetadataError when the database cannot be reached."""

    # files
    @abc.abstractmethod
    async def insert_file(self, record: FileRecord) -> FileRecord:
        """Insert a new row; returns it with its insertion sequence number set."""

    @abc.abstractmethod
    async def get_file(self, project_id: str, file_id: str, now: int) -> FileRecord | None:
        """A live file (not deleted, not expired at `now`) of the project, or None."""

    @abc.abstractmethod
    async def list_files(
        self,
        project_id: str,
        *,
        purpose: str | None,
        limit: int,
        order: Order,
        after: str | None,
        now: int,
        status: str | None = None,
        search: str | None = None,
        sort: SortKey = "created_at",
    ) -> FilePage:
        """Live files ordered by (`sort`, insertion sequence); keyset-paginated by `after`.

        `status` and `search` filter (see `listing_filters`). Raises CursorNotFound when `after`
        names no file of the project, live or tombstoned.
        """

    @abc.abstractmethod
    async def mark_file_deleted(self, project_id: str, file_id: str, now: int) -> FileRecord | None:
        """Turn a live file into a tombstone (its id stays a valid cursor); None if not live."""

    @abc.abstractmethod
    async def update_file_status(
        self, file_id: str, status: str, status_details: str | None
    ) -> None:
        """Set a file's processing status."""

    @abc.abstractmethod
    async def claim_expired_files(self, now: int, limit: int) -> list[FileRecord]:
        """Atomically tombstone up to `limit` files expired at `now` and return them (each once)."""

    @abc.abstractmethod
    async def purge_tombstones(self, deleted_before: int) -> int:
        """Remove tombstone rows deleted before the given time."""

    @abc.abstractmethod
    async def live_blob_keys(self, keys: list[str]) -> set[str]:
        """Which of `keys` belong to a live (not tombstoned) file row."""

    # API keys
    @abc.abstractmethod
    async def insert_api_key(self, record: ApiKeyRecord) -> None:
        """Store a new key (hash and prefix only)."""

    @abc.abstractmethod
    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The key with this hash, revoked or not."""

    @abc.abstractmethod
    async def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every stored key, oldest first."""

    @abc.abstractmethod
    async def revoke_api_key(self, key_id_or_prefix: str, now: int) -> ApiKeyRecord | None:
        """Revoke by id or prefix; None if no such key."""

    # metrics (not abstract, so stores written before it still load; override it)
    async def usage_by_purpose(self, now: int) -> list[tuple[str, int, int]]:
        """(purpose, live files, stored bytes) over every project, for the metrics scrape."""
        raise NotImplementedError

    # processing
    @abc.abstractmethod
    async def claim_files_for_processing(
        self, owner: str, now: int, lease_until: int, limit: int
    ) -> list[FileRecord]:
        """Atomically lease up to `limit` live files in status `uploaded` whose lease is absent or
        expired at `now`, to `owner` until `lease_until`, and return them. With several servers
        on one database each file is handed to one claimant per lease."""

    @abc.abstractmethod
    async def renew_processing_lease(self, file_id: str, owner: str, lease_until: int) -> bool:
        """Extend `owner`'s lease on a file; False if the lease is no longer `owner`'s."""

    @abc.abstractmethod
    async def release_processing_lease(self, file_id: str, owner: str) -> None:
        """Give a file back unprocessed (e.g. at shutdown) so another claimant may take it now."""

    @abc.abstractmethod
    async def finish_processing(
        self,
        file_id: str,
        owner: str,
        status: str,
        status_details: str | None,
        report: str,
        now: int,
    ) -> bool:
        """In one transaction: if `owner` still holds the lease on the live, `uploaded` file, set
        its final status, drop the lease and store its report (JSON text). False otherwise."""

    @abc.abstractmethod
    async def save_file_report(self, file_id: str, report: str, now: int) -> None:
        """Store (or replace) a file's validation report (JSON text)."""

    @abc.abstractmethod
    async def get_file_report(self, file_id: str) -> str | None:
        """A file's stored report (JSON text), or None."""

    # projects and quotas
    # A project's `used_bytes` follows its live file rows (kept by the database, see migration
    # 0004); `reserved_bytes` is the sum of its quota reservations. Every quota method is one
    # transaction that checks `used_bytes + reserved_bytes + n <= quota` in the UPDATE itself.
    @abc.abstractmethod
    async def insert_project(self, record: ProjectRecord) -> None:
        """Store a new project."""

    @abc.abstractmethod
    async def get_project(self, project_id: str) -> ProjectRecord | None:
        """The project (archived or not), or None."""

    @abc.abstractmethod
    async def list_projects(
        self, *, limit: int, after: str | None, include_archived: bool
    ) -> tuple[list[ProjectRecord], bool]:
        """Projects by (created_at, id) after the project `after`; and whether more follow."""

    @abc.abstractmethod
    async def update_project(self, record: ProjectRecord) -> ProjectRecord | None:
        """Write name and limits (not the counters) of an existing project; None if none."""

    @abc.abstractmethod
    async def archive_project(self, project_id: str, now: int) -> ProjectRecord | None:
        """Archive the project and revoke all its keys in one transaction; None if no project."""

    @abc.abstractmethod
    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this id, revoked or not."""

    @abc.abstractmethod
    async def list_project_api_keys(self, project_id: str) -> list[ApiKeyRecord]:
        """The project's keys, oldest first."""

    @abc.abstractmethod
    async def reserve_quota(self, reservation: Reservation, default_quota: int, now: int) -> bool:
        """Hold `reservation.bytes` for its project if they fit under the quota; False if not."""

    @abc.abstractmethod
    async def resize_reservation(
        self, reservation_id: str, nbytes: int, default_quota: int, expires_at: int
    ) -> ResizeOutcome:
        """Set a reservation's size (growing only if it fits) and extend its lease."""

    @abc.abstractmethod
    async def insert_file_settling(
        self, record: FileRecord, reservation_id: str, default_quota: int
    ) -> FileRecord | None:
        """Insert a file row and drop its reservation in one transaction, so its bytes move from
        reserved to used without ever counting twice. If the reservation is gone, insert only if
        the file still fits; None (nothing inserted) if it does not."""

    @abc.abstractmethod
    async def release_reservation(self, reservation_id: str) -> bool:
        """Drop a reservation and give its bytes back; False if it was already gone."""

    @abc.abstractmethod
    async def release_expired_reservations(self, now: int) -> int:
        """Drop every reservation whose lease ended before `now` (crashed uploads)."""

    @abc.abstractmethod
    async def project_usage(self, project_id: str, now: int) -> list[PurposeUsage]:
        """Live files of the project grouped by purpose, in purpose order."""

    # uploads
    @abc.abstractmethod
    async def insert_upload(self, record: UploadRecord) -> None:
        """Store a new pending Upload."""

    @abc.abstractmethod
    async def get_upload(self, project_id: str, upload_id: str) -> UploadRecord | None:
        """The Upload of the project in whatever state, or None."""

    @abc.abstractmethod
    async def insert_upload_part(self, part: UploadPartRecord, now: int) -> bool:
        """Add a part in one transaction, only if its Upload is pending, not expired at `now`
        and `received_bytes + part.bytes <= bytes`; the part's
        size is added to `received_bytes`. False (and nothing stored) otherwise.
        """

    @abc.abstractmethod
    async def list_upload_parts(self, upload_id: str) -> list[UploadPartRecord]:
        """Every part row of an Upload, oldest first."""

    @abc.abstractmethod
    async def start_upload_completion(self, upload_id: str, file_id: str) -> bool:
        """Record the id the File will get (a pending Upload only); False if not pending."""

    @abc.abstractmethod
    async def finish_upload_completion(self, upload_id: str, file_id: str) -> UploadRecord | None:
        """Mark completed when `file_id` is still the recorded completion and the Upload is
        pending (or already completed with it); None otherwise.
        """

    @abc.abstractmethod
    async def cancel_upload(self, project_id: str, upload_id: str, now: int) -> UploadRecord | None:
        """Pending, unexpired and without a published File → cancelled; None otherwise."""

    @abc.abstractmethod
    async def settle_published_uploads(self) -> int:
        """Mark completed every pending Upload whose recorded File exists (live): a crash hit
        between publishing the File and marking the Upload. Returns how many.
        """

    @abc.abstractmethod
    async def claim_expired_uploads(self, now: int, limit: int) -> int:
        """Pending Uploads expired at `now` (and without a published File) → expired."""

    @abc.abstractmethod
    async def dead_upload_parts(self, limit: int) -> list[UploadPartRecord]:
        """Up to `limit` part rows whose Upload is no longer pending (their bytes can go)."""

    @abc.abstractmethod
    async def delete_upload_parts(self, part_ids: list[str]) -> None:
        """Remove part rows (after their blobs were deleted)."""

    @abc.abstractmethod
    async def pending_upload_part_keys(self, keys: list[str]) -> set[str]:
        """Which of `keys` are blobs of parts of a pending Upload (live for the orphan sweep)."""

    @abc.abstractmethod
    async def purge_finished_uploads(self, expired_before: int) -> int:
        """Remove rows of Uploads that are no longer pending, have no part rows left, and
        expired before the given time. Returns how many."""
