"""Routes of the Uploads API: parse the request, call UploadService, render the result."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from filedock.errors import InvalidRequest
from filedock.services.keys import Principal
from filedock.services.uploads import PART_FIELD, UploadService
from filedock.web.multipart import feed_multipart, multipart_boundary
from filedock.web.responses import JSONResponse

# JSON bodies are small (a complete of 8 GB in 64 MiB parts lists 128 ids); cap what we buffer.
MAX_JSON_BYTES = 4 * 1024 * 1024
# Room for the multipart framing around the part's bytes.
MULTIPART_OVERHEAD = 64 * 1024
INVALID_JSON = (
    "We could not parse the JSON body of your request. The API expects a JSON payload, "
    "but what was sent was not valid JSON."
)


def _service(request: Request) -> UploadService:
    service: UploadService = request.app.state.components.uploads
    return service


def _project(request: Request) -> str:
    principal: Principal = request.state.principal
    return principal.project_id


async def _json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, read with a cap; anything else is a 400."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise InvalidRequest(f"The JSON body is larger than {MAX_JSON_BYTES} bytes.")
    try:
        value = json.loads(body)
    except ValueError:
        raise InvalidRequest(INVALID_JSON) from None
    if not isinstance(value, dict):
        raise InvalidRequest("The JSON body must be an object.")
    return value


async def create_upload(request: Request) -> Response:
    body = await _json_object(request)
    view = await _service(request).create_upload(_project(request), body)
    return JSONResponse(view.to_openai())


async def add_upload_part(request: Request) -> Response:
    service = _service(request)
    boundary = multipart_boundary(request.headers.get("content-type"))
    declared = request.headers.get("content-length")
    if (
        declared
        and declared.isdigit()
        and int(declared) > service.settings.upload_part_max_bytes + MULTIPART_OVERHEAD
    ):
        # Answer before reading the body; the server discards what the client still sends.
        raise service.part_too_large()
    part = await service.add_upload_part(_project(request), request.path_params["upload_id"])
    try:
        await feed_multipart(request.stream(), boundary, part, stream_text_fields=(PART_FIELD,))
        record = await part.finish()
    except BaseException:
        await part.abort()
        raise
    return JSONResponse(record.to_openai())


async def complete_upload(request: Request) -> Response:
    body = await _json_object(request)
    view = await _service(request).complete_upload(
        _project(request), request.path_params["upload_id"], body
    )
    return JSONResponse(view.to_openai())


async def cancel_upload(request: Request) -> Response:
    # The body is ignored: the SDK sends none (with a JSON Content-Type), curl may send `{}`.
    view = await _service(request).cancel_upload(
        _project(request), request.path_params["upload_id"]
    )
    return JSONResponse(view.to_openai())


routes = [
    Route("/v1/uploads", create_upload, methods=["POST"]),
    Route("/v1/uploads/{upload_id}/parts", add_upload_part, methods=["POST"]),
    Route("/v1/uploads/{upload_id}/complete", complete_upload, methods=["POST"]),
    Route("/v1/uploads/{upload_id}/cancel", cancel_upload, methods=["POST"]),
]
