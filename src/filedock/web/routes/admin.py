"""The admin API, shaped like OpenAI's Administration API: projects and their API keys.

Every route needs an admin key (403 otherwise), except a project's usage, which the project's own
keys may read too. See docs/projects.md.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from filedock.errors import AdminRequired, InvalidRequest, NotFound
from filedock.models import ROLE_MEMBER
from filedock.services.keys import ApiKeys, Principal
from filedock.services.projects import KEEP, ProjectService
from filedock.web.responses import JSONResponse

MAX_JSON_BYTES = 64 * 1024
PROJECT_FIELDS = (
    "name",
    "storage_quota_bytes",
    "max_requests_per_1_minute",
    "max_uploads_per_1_minute",
)
KEY_FIELDS = ("name", "role", "expires_at")


def _projects(request: Request) -> ProjectService:
    service: ProjectService = request.app.state.components.projects
    return service


def _keys(request: Request) -> ApiKeys:
    keys: ApiKeys = request.app.state.components.keys
    return keys


def _principal(request: Request) -> Principal:
    principal: Principal = request.state.principal
    return principal


def _require_admin(request: Request) -> None:
    if not _principal(request).is_admin:
        raise AdminRequired(
            "This operation requires an admin API key; this key belongs to project "
            f"{_principal(request).project_id} and may only use its files."
        )


async def _json_body(request: Request, allowed: tuple[str, ...]) -> dict[str, Any]:
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_JSON_BYTES:
            raise InvalidRequest("The JSON body is too large.")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest(
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly.)"
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequest("The JSON body must be an object.")
    for name in body:
        if name not in allowed:
            raise InvalidRequest(
                f"Additional properties are not allowed ('{name}' was unexpected)", param=name
            )
    return body


def _optional_int(body: dict[str, Any], name: str) -> int | None:
    value = body[name]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{value!r} is not of type 'integer' - '{name}'", param=name)
    return int(value)


def _string(body: dict[str, Any], name: str, default: str = "") -> str:
    value = body.get(name, default)
    if not isinstance(value, str):
        raise InvalidRequest(f"{value!r} is not of type 'string' - '{name}'", param=name)
    return value


def _int_query(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"'{raw}' is not a valid integer - '{name}'", param=name) from None


def _page(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


# projects ------------------------------------------------------------------------------------
async def list_projects(request: Request) -> Response:
    _require_admin(request)
    service = _projects(request)
    records, has_more = await service.list_projects(
        limit=_int_query(request, "limit", 20),
        after=request.query_params.get("after") or None,
        include_archived=request.query_params.get("include_archived", "").lower() == "true",
    )
    return JSONResponse(_page([service.to_openai(r) for r in records], has_more))


async def create_project(request: Request) -> Response:
    _require_admin(request)
    body = await _json_body(request, PROJECT_FIELDS)
    if "name" not in body:
        raise InvalidRequest("'name' is a required property", param="name")
    service = _projects(request)
    record = await service.create_project(
        _string(body, "name"),
        **_limits(body, absent=None),
    )
    return JSONResponse(service.to_openai(record))


# Request field -> ProjectService keyword, for the limits a project may set.
LIMIT_FIELDS = {
    "storage_quota_bytes": "storage_quota_bytes",
    "max_requests_per_1_minute": "requests_per_minute",
    "max_uploads_per_1_minute": "uploads_per_minute",
}


def _limits(body: dict[str, Any], absent: Any) -> dict[str, Any]:
    """The limits given in `body`; a field left out becomes `absent` (default or keep)."""
    return {
        keyword: _optional_int(body, field) if field in body else absent
        for field, keyword in LIMIT_FIELDS.items()
    }


async def retrieve_project(request: Request) -> Response:
    _require_admin(request)
    service = _projects(request)
    record = await service.get_project(request.path_params["project_id"])
    return JSONResponse(service.to_openai(record))


async def modify_project(request: Request) -> Response:
    _require_admin(request)
    body = await _json_body(request, PROJECT_FIELDS)
    service = _projects(request)
    record = await service.update_project(
        request.path_params["project_id"],
        name=_string(body, "name") if "name" in body else KEEP,
        **_limits(body, absent=KEEP),
    )
    return JSONResponse(service.to_openai(record))


async def archive_project(request: Request) -> Response:
    _require_admin(request)
    service = _projects(request)
    record = await service.archive_project(request.path_params["project_id"])
    return JSONResponse(service.to_openai(record))


async def project_usage(request: Request) -> Response:
    project_id = request.path_params["project_id"]
    principal = _principal(request)
    if not principal.is_admin and principal.project_id != project_id:
        # Another project's usage looks exactly like a project that does not exist.
        raise NotFound(f"No such project: {project_id}", param="project_id")
    usage = await _projects(request).usage(project_id)
    return JSONResponse(usage.to_openai())


# API keys ------------------------------------------------------------------------------------
async def list_api_keys(request: Request) -> Response:
    _require_admin(request)
    project = await _projects(request).get_project(request.path_params["project_id"])
    records = [r for r in await _keys(request).list_keys(project.id) if r.revoked_at is None]
    return JSONResponse(_page([r.to_openai() for r in records], False))


async def create_api_key(request: Request) -> Response:
    _require_admin(request)
    body = await _json_body(request, KEY_FIELDS)
    project = await _projects(request).get_active_project(request.path_params["project_id"])
    record, secret = await _keys(request).create_key(
        _string(body, "name"),
        project.id,
        role=_string(body, "role", ROLE_MEMBER),
        expires_at=_optional_int(body, "expires_at") if "expires_at" in body else None,
    )
    # The secret is in this response only; it is never stored or logged.
    return JSONResponse({**record.to_openai(), "value": secret})


async def retrieve_api_key(request: Request) -> Response:
    _require_admin(request)
    record = await _keys(request).get_key(
        request.path_params["project_id"], request.path_params["key_id"]
    )
    return JSONResponse(record.to_openai())


async def delete_api_key(request: Request) -> Response:
    _require_admin(request)
    keys = _keys(request)
    record = await keys.get_key(request.path_params["project_id"], request.path_params["key_id"])
    await keys.revoke(record.id)
    return JSONResponse(
        {"object": "organization.project.api_key.deleted", "id": record.id, "deleted": True}
    )


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
