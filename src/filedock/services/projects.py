"""Projects: create, list, show, change limits, archive; their usage and effective limits."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Final

from filedock.clock import Clock
from filedock.errors import InvalidRequest, NotFound
from filedock.ids import new_project_id
from filedock.metadata.base import CursorNotFound, MetadataStore
from filedock.models import DEFAULT_PROJECT_ID, ProjectRecord, ProjectUsage
from filedock.services import audit
from filedock.settings import Settings

PROJECT_LIST_MAX = 100
# Rate limits are looked up on every request; a project's override is re-read at most this often.
LIMITS_CACHE_SECONDS = 5.0


class _Keep:
    """Marks an argument of `update_project` as "leave unchanged" (None means "use the default")."""


KEEP: Final = _Keep()


def _check_limit(value: int | None, name: str) -> None:
    if value is not None and value < 0:
        raise InvalidRequest(f"{value} is out of range: {name} must be 0 or more", param=name)


class ProjectService:
    """The project operations shared by the CLI and the admin API."""

    def __init__(self, settings: Settings, metadata: MetadataStore, clock: Clock) -> None:
        self.settings = settings
        self.metadata = metadata
        self.clock = clock
        self._limits: dict[str, tuple[float, int, int]] = {}

    # effective limits --------------------------------------------------------------------------
    def quota_of(self, project: ProjectRecord) -> int:
        if project.storage_quota_bytes is not None:
            return project.storage_quota_bytes
        return self.settings.storage_quota_bytes

    def requests_per_minute_of(self, project: ProjectRecord) -> int:
        if project.requests_per_minute is not None:
            return project.requests_per_minute
        return self.settings.requests_per_minute

    def uploads_per_minute_of(self, project: ProjectRecord) -> int:
        if project.uploads_per_minute is not None:
            return project.uploads_per_minute
        return self.settings.uploads_per_minute

    async def rate_limits(self, project_id: str) -> tuple[int, int]:
        """(requests, uploads) per minute for the project's keys, from a short-lived cache."""
        # A cache's age, not a timestamp: monotonic, whatever the service's clock says.
        now = time.monotonic()
        cached = self._limits.get(project_id)
        if cached is not None and now - cached[0] < LIMITS_CACHE_SECONDS:
            return cached[1], cached[2]
        project = await self.metadata.get_project(project_id)
        if project is None:
            limits = (self.settings.requests_per_minute, self.settings.uploads_per_minute)
        else:
            limits = (self.requests_per_minute_of(project), self.uploads_per_minute_of(project))
        self._limits[project_id] = (now, *limits)
        return limits

    # operations --------------------------------------------------------------------------------
    async def create_project(
        self,
        name: str,
        *,
        storage_quota_bytes: int | None = None,
        requests_per_minute: int | None = None,
        uploads_per_minute: int | None = None,
    ) -> ProjectRecord:
        if not name.strip():
            raise InvalidRequest("'name' is a required property", param="name")
        _check_limit(storage_quota_bytes, "storage_quota_bytes")
        _check_limit(requests_per_minute, "max_requests_per_1_minute")
        _check_limit(uploads_per_minute, "max_uploads_per_1_minute")
        record = ProjectRecord(
            id=new_project_id(),
            name=name.strip(),
            created_at=self.clock.now(),
            storage_quota_bytes=storage_quota_bytes,
            requests_per_minute=requests_per_minute,
            uploads_per_minute=uploads_per_minute,
        )
        await self.metadata.insert_project(record)
        audit.record(
            "project.created",
            self.clock.time(),
            project_id=record.id,
            name=record.name,
            storage_quota_bytes=storage_quota_bytes,
            requests_per_minute=requests_per_minute,
            uploads_per_minute=uploads_per_minute,
        )
        return record

    async def get_project(self, project_id: str) -> ProjectRecord:
        record = await self.metadata.get_project(project_id)
        if record is None:
            raise NotFound(f"No such project: {project_id}", param="project_id")
        return record

    async def get_active_project(self, project_id: str) -> ProjectRecord:
        record = await self.get_project(project_id)
        if record.archived_at is not None:
            raise InvalidRequest(f"Project {project_id} is archived.", param="project_id")
        return record

    async def list_projects(
        self, *, limit: int = 20, after: str | None = None, include_archived: bool = False
    ) -> tuple[list[ProjectRecord], bool]:
        if not 1 <= limit <= PROJECT_LIST_MAX:
            raise InvalidRequest(
                f"{limit} is out of range: limit must be between 1 and {PROJECT_LIST_MAX}",
                param="limit",
            )
        try:
            return await self.metadata.list_projects(
                limit=limit, after=after, include_archived=include_archived
            )
        except CursorNotFound:
            raise InvalidRequest(f"No such project: {after}", param="after") from None

    async def update_project(
        self,
        project_id: str,
        *,
        name: str | _Keep = KEEP,
        storage_quota_bytes: int | _Keep | None = KEEP,
        requests_per_minute: int | _Keep | None = KEEP,
        uploads_per_minute: int | _Keep | None = KEEP,
    ) -> ProjectRecord:
        """Change what is given; None for a limit means "the server default" again."""
        record = await self.get_active_project(project_id)
        changes: dict[str, Any] = {}
        if not isinstance(name, _Keep):
            if not name.strip():
                raise InvalidRequest("'name' must not be empty", param="name")
            changes["name"] = name.strip()
        for field, value, param in (
            ("storage_quota_bytes", storage_quota_bytes, "storage_quota_bytes"),
            ("requests_per_minute", requests_per_minute, "max_requests_per_1_minute"),
            ("uploads_per_minute", uploads_per_minute, "max_uploads_per_1_minute"),
        ):
            if not isinstance(value, _Keep):
                _check_limit(value, param)
                changes[field] = value
        updated = await self.metadata.update_project(replace(record, **changes))
        if updated is None:
            raise NotFound(f"No such project: {project_id}", param="project_id")
        self._limits.pop(project_id, None)
        audit.record("project.updated", self.clock.time(), project_id=project_id, **changes)
        return updated

    async def set_quota(self, project_id: str, storage_quota_bytes: int | None) -> ProjectRecord:
        """Set (or with None, reset to the default) the project's storage quota.

        Lowering it below what is stored deletes nothing; new uploads are refused until usage
        falls under it.
        """
        return await self.update_project(project_id, storage_quota_bytes=storage_quota_bytes)

    async def archive_project(self, project_id: str) -> ProjectRecord:
        """Archive: every key of the project is revoked; its files stay, reachable by no key."""
        if project_id == DEFAULT_PROJECT_ID:
            raise InvalidRequest("The default project cannot be archived.", param="project_id")
        record = await self.metadata.archive_project(project_id, self.clock.now())
        if record is None:
            raise NotFound(f"No such project: {project_id}", param="project_id")
        self._limits.pop(project_id, None)
        audit.record("project.archived", self.clock.time(), project_id=project_id)
        return record

    async def usage(self, project_id: str) -> ProjectUsage:
        record = await self.get_project(project_id)
        purposes = await self.metadata.project_usage(project_id, self.clock.now())
        return ProjectUsage(
            project_id=project_id,
            quota_bytes=self.quota_of(record),
            used_bytes=record.used_bytes,
            reserved_bytes=record.reserved_bytes,
            purposes=purposes,
        )
