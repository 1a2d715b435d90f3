"""The admin API, shaped like OpenAI's Administration API: projects and their API keys.

Every route needs an admin key (403 otherwise), except a project's usage, which the project's own
keys may read too. See docs/projects.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from msgspec import UNSET
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from filedock.errors import AdminRequired, NotFound
from filedock.models import ProjectRecord
from filedock.services.keys import Principal
from filedock.services.projects import KEEP, ProjectService
from filedock.web.json_body import read_json
from filedock.web.responses import JSONResponse
from filedock.web.routes.context import components
from filedock.web.schemas import (
    ApiKeyDeleted,
    CreateApiKeyRequest,
    CreateProjectRequest,
    ModifyProjectRequest,
    ProjectObject,
    admin_list,
    api_key_object,
    project_object,
    project_usage_object,
    query_int,
)

MAX_JSON_BYTES = 64 * 1024
T = TypeVar("T")


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


def _require_admin(request: Request) -> None:
    if not _principal(request).is_admin:
        raise AdminRequired(
            "This operation requires an admin API key; this key belongs to project "
            f"{_principal(request).project_id} and may only use its files."
        )


async def _admin_body(request: Request, shape: type[T]) -> T:
    """The JSON body of an admin request (no body at all is `{}`), once the caller is an admin."""
    _require_admin(request)
    return await read_json(request, shape, max_bytes=MAX_JSON_BYTES, empty_is_object=True)


def _project(service: ProjectService, record: ProjectRecord) -> ProjectObject:
    """A project with its effective limits (its own, or the server's defaults)."""
    return project_object(
        record,
        service.quota_of(record),
        service.requests_per_minute_of(record),
        service.uploads_per_minute_of(record),
    )


# projects ------------------------------------------------------------------------------------
async def list_projects(request: Request) -> Response:
    _require_admin(request)
    service = components(request).projects
    records, has_more = await service.list_projects(
        limit=query_int(request.query_params, "limit", 20),
        after=request.query_params.get("after") or None,
        include_archived=request.query_params.get("include_archived", "").lower() == "true",
    )
    return JSONResponse(admin_list([_project(service, r) for r in records], has_more))


async def create_project(request: Request) -> Response:
    body = await _admin_body(request, CreateProjectRequest)
    service = components(request).projects
    record = await service.create_project(
        body.name,
        storage_quota_bytes=body.storage_quota_bytes,
        requests_per_minute=body.max_requests_per_1_minute,
        uploads_per_minute=body.max_uploads_per_1_minute,
    )
    return JSONResponse(_project(service, record))


def _kept(value: Any) -> Any:
    """A field left out of a modify request: keep what the project has."""
    return KEEP if value is UNSET else value


def _on_project(
    call: Callable[[ProjectService, str], Awaitable[ProjectRecord]],
) -> Callable[[Request], Awaitable[Response]]:
    """An admin route that calls `call(projects, project_id)` and renders the project."""

    async def endpoint(request: Request) -> Response:
        _require_admin(request)
        service = components(request).projects
        record = await call(service, request.path_params["project_id"])
        return JSONResponse(_project(service, record))

    return endpoint


retrieve_project = _on_project(lambda projects, id: projects.get_project(id))
archive_project = _on_project(lambda projects, id: projects.archive_project(id))


async def modify_project(request: Request) -> Response:
    body = await _admin_body(request, ModifyProjectRequest)
    service = components(request).projects
    record = await service.update_project(
        request.path_params["project_id"],
        name=_kept(body.name),
        storage_quota_bytes=_kept(body.storage_quota_bytes),
        requests_per_minute=_kept(body.max_requests_per_1_minute),
        uploads_per_minute=_kept(body.max_uploads_per_1_minute),
    )
    return JSONResponse(_project(service, record))


async def project_usage(request: Request) -> Response:
    project_id = request.path_params["project_id"]
    principal = _principal(request)
    if not principal.is_admin and principal.project_id != project_id:
        # Another project's usage looks exactly like a project that does not exist.
        raise NotFound(f"No such project: {project_id}", param="project_id")
    usage = await components(request).projects.usage(project_id)
    return JSONResponse(project_usage_object(usage))


# API keys ------------------------------------------------------------------------------------
async def list_api_keys(request: Request) -> Response:
    _require_admin(request)
    project = await components(request).projects.get_project(request.path_params["project_id"])
    records = [
        r for r in await components(request).keys.list_keys(project.id) if r.revoked_at is None
    ]
    return JSONResponse(admin_list([api_key_object(r) for r in records], False))


async def create_api_key(request: Request) -> Response:
    body = await _admin_body(request, CreateApiKeyRequest)
    project = await components(request).projects.get_active_project(
        request.path_params["project_id"]
    )
    record, secret = await components(request).keys.create_key(
        body.name, project.id, role=body.role, expires_at=body.expires_at
    )
    # The secret is in this response only; it is never stored or logged.
    return JSONResponse(api_key_object(record, secret))


async def retrieve_api_key(request: Request) -> Response:
    _require_admin(request)
    record = await components(request).keys.get_key(
        request.path_params["project_id"], request.path_params["key_id"]
    )
    return JSONResponse(api_key_object(record))


async def delete_api_key(request: Request) -> Response:
    _require_admin(request)
    keys = components(request).keys
    record = await keys.get_key(request.path_params["project_id"], request.path_params["key_id"])
    await keys.revoke(record.id)
    return JSONResponse(ApiKeyDeleted(id=record.id))


PREFIX = "/v1/organization/projects"
routes = [
    Route(PREFIX, list_projects, methods=["GET"]),
    Route(PREFIX, create_project, methods=["POST"]),
    Route(PREFIX + "/{project_id}", retrieve_project, methods=["GET"]),
    Route(PREFIX + "/{project_id}", modify_project, methods=["POST"]),
    Route(PREFIX + "/{project_id}/archive", archive_project, methods=["POST"]),
    Route(PREFIX + "/{project_id}/usage", project_usage, methods=["GET"]),
    Route(PREFIX + "/{project_id}/api_keys", list_api_keys, methods=["GET"]),
    Route(PREFIX + "/{project_id}/api_keys", create_api_key, methods=["POST"]),
    Route(PREFIX + "/{project_id}/api_keys/{key_id}", retrieve_api_key, methods=["GET"]),
    Route(PREFIX + "/{project_id}/api_keys/{key_id}", delete_api_key, methods=["DELETE"]),
]
