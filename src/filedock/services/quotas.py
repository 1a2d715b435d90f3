"""Storage quotas: reserve bytes before they stream in, settle at completion, release on failure.

The life of a reservation (POST /files and the Uploads API use it the same way):

    held = await quotas.reserve(project_id, declared_bytes)   # before reading the body
    await quotas.grow(held, needed)             # chunked bodies: in blocks as bytes arrive
    await files.publish_file(..., held=held)    # settles: inserts the row and drops the hold
                                                # in one transaction (real size -> used)
    await quotas.release(held)                  # on any failure, cancel or expiry

`settle(held, size)` shrinks a hold to the real size early, for a caller that keeps it a while
before publishing (e.g. an Upload between its last part and `complete`).

A reservation is a row with a lease (`expires_at`); `grow`/`settle`/`renew` extend it. Rows of a
crashed server outlive nobody: the sweeper releases every lease that ran out.
"""

from __future__ import annotations

from dataclasses import dataclass

from filedock.clock import Clock
from filedock.errors import InvalidRequest, StorageQuotaExceeded
from filedock.ids import new_reservation_id
from filedock.metadata.base import MetadataStore
from filedock.models import Reservation
from filedock.settings import Settings

# Chunked bodies reserve in blocks of this size: few database round trips per upload, little
# quota held beyond what actually arrived.
GROW_BLOCK = 8 * 1024 * 1024


@dataclass
class Held:
    """A live reservation as its owner sees it: how many bytes are held and when it was renewed."""

    id: str
    project_id: str
    bytes: int
    renewed_at: float


class QuotaService:
    """reserve / grow / settle / renew / release against the metadata store's atomic counters."""

    def __init__(self, settings: Settings, metadata: MetadataStore, clock: Clock) -> None:
        self.settings = settings
        self.metadata = metadata
        self.clock = clock

    def _lease_end(self, lease_seconds: int | None) -> int:
        return self.clock.now() + (lease_seconds or self.settings.quota_lease_seconds)

    def held(self, reservation_id: str, project_id: str, nbytes: int) -> Held:
        """A recorded reservation (e.g. an Upload's), as its owner holds it now."""
        return Held(reservation_id, project_id, nbytes, self.clock.time())

    async def exceeded(self, project_id: str, param: str = "file") -> StorageQuotaExceeded:
        """The over-quota error with the project's current numbers; `param` names what asked."""
        project = await self.metadata.get_project(project_id)
        used = project.used_bytes + project.reserved_bytes if project else 0
        limit = (
            project.storage_quota_bytes
            if project and project.storage_quota_bytes is not None
            else self.settings.storage_quota_bytes
        )
        return StorageQuotaExceeded(
            f"Storage quota exceeded for project {project_id}: {used} of {limit} bytes used",
            param=param,
        )

    async def reserve(
        self,
        project_id: str,
        nbytes: int,
        *,
        lease_seconds: int | None = None,
        param: str = "file",
    ) -> Held:
        """Hold `nbytes` of the project's quota; raises StorageQuotaExceeded when they do not fit.

        `lease_seconds` (default: the quota_lease_seconds setting) is how long the hold survives
        without a grow/settle/renew; the Uploads API passes the upload's lifetime. `param` is
        the request field the error names.
        """
        if nbytes < 0:
            raise InvalidRequest("A reservation cannot be negative.")
        reservation = Reservation(
            id=new_reservation_id(),
            project_id=project_id,
            bytes=nbytes,
            expires_at=self._lease_end(lease_seconds),
        )
        if not await self.metadata.reserve_quota(
            reservation, self.settings.storage_quota_bytes, self.clock.now()
        ):
            raise await self.exceeded(project_id, param)
        return self.held(reservation.id, project_id, nbytes)

    async def resize(self, held: Held, nbytes: int, *, lease_seconds: int | None = None) -> None:
        """Make the hold exactly `nbytes` (growing only within the quota) and renew its lease.

        A hold the sweeper already released (its lease ran out) is taken again from scratch.
        """
        outcome = await self.metadata.resize_reservation(
            held.id, nbytes, self.settings.storage_quota_bytes, self._lease_end(lease_seconds)
        )
        if outcome == "missing":
            fresh = await self.reserve(held.project_id, nbytes, lease_seconds=lease_seconds)
            held.id = fresh.id
        elif outcome == "full":
            raise await self.exceeded(held.project_id)
        held.bytes = nbytes
        held.renewed_at = self.clock.time()

    async def grow(self, held: Held, needed: int, *, limit: int | None = None) -> None:
        """Ensure at least `needed` bytes are held: a block more when possible, else just enough."""
        if needed <= held.bytes:
            return
        target = max(needed, held.bytes + GROW_BLOCK)
        if limit is not None:
            target = max(needed, min(target, limit))
        try:
            await self.resize(held, target)
        except StorageQuotaExceeded:
            if target == needed:
                raise
            await self.resize(held, needed)

    async def renew(self, held: Held, *, lease_seconds: int | None = None) -> None:
        """Extend the lease of a long-running upload (same size)."""
        await self.resize(held, held.bytes, lease_seconds=lease_seconds)

    async def renew_if_due(self, held: Held) -> None:
        """Renew once half the default lease has passed since the last renewal (cheap to call)."""
        if self.clock.time() - held.renewed_at > self.settings.quota_lease_seconds / 2:
            await self.renew(held)

    async def settle(self, held: Held, actual_bytes: int) -> None:
        """Shrink (or grow) the hold to exactly the real size, e.g. once all parts are in."""
        await self.resize(held, actual_bytes)

    async def release(self, held: Held | None) -> None:
        """Give the hold back (after the file row exists, or on failure). Idempotent."""
        if held is not None:
            await self.metadata.release_reservation(held.id)

    async def release_expired(self) -> int:
        """Free the holds whose lease ran out (crashed or stalled uploads); for the sweeper."""
        return await self.metadata.release_expired_reservations(self.clock.now())
