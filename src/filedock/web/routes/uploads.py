"""Routes of the Uploads API: parse the request, call UploadService, render the result."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from filedock.services.uploads import UploadView
from filedock.web.forms import PartForm, multipart_request, receive_form
from filedock.web.json_body import read_json
from filedock.web.responses import JSONResponse
from filedock.web.routes.context import by_id, components, project_of
from filedock.web.schemas import (
    CompleteUploadRequest,
    CreateUploadRequest,
    UploadObject,
    expires_after_seconds,
    upload_object,
    upload_part_object,
)

# Room for the multipart framing around the part's bytes.
MULTIPART_OVERHEAD = 64 * 1024


def _upload_view(view: UploadView) -> UploadObject:
    return upload_object(view.upload, view.file)


async def create_upload(request: Request) -> Response:
    body = await read_json(request, CreateUploadRequest)
    expires = body.expires_after
    view = await components(request).uploads.create_upload(
        project_of(request),
        filename=body.filename,
        purpose=body.purpose,
        bytes=body.bytes,
        mime_type=body.mime_type,
        expires_after=expires_after_seconds(expires.anchor, expires.seconds) if expires else None,
    )
    return JSONResponse(_upload_view(view))


async def add_upload_part(request: Request) -> Response:
    service = components(request).uploads
    boundary, _ = multipart_request(
        request, service.settings.upload_part_max_bytes + MULTIPART_OVERHEAD, service.part_too_large
    )
    part = await service.add_upload_part(project_of(request), request.path_params["upload_id"])
    record = await receive_form(request, boundary, PartForm(part))
    return JSONResponse(upload_part_object(record))


async def complete_upload(request: Request) -> Response:
    body = await read_json(request, CompleteUploadRequest)
    view = await components(request).uploads.complete_upload(
        project_of(request), request.path_params["upload_id"], body.part_ids, body.md5
    )
    return JSONResponse(_upload_view(view))


routes = [
    Route("/v1/uploads", create_upload, methods=["POST"]),
    Route("/v1/uploads/{upload_id}/parts", add_upload_part, methods=["POST"]),
    Route("/v1/uploads/{upload_id}/complete", complete_upload, methods=["POST"]),
    # The body is ignored: the SDK sends none (with a JSON Content-Type), curl may send `{}`.
    by_id(
        "POST", "/v1/uploads/{upload_id}/cancel", lambda c: c.uploads.cancel_upload, _upload_view
    ),
]
