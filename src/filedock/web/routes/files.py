"""Routes of the Files API: parse the request, call FileService, render the result."""

from __future__ import annotations

import functools

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from filedock.models import FileRecord
from filedock.services.files import LIST_LIMIT_MAX, FileService
from filedock.web.forms import FileForm, multipart_request, receive_form
from filedock.web.responses import BlobResponse, JSONResponse
from filedock.web.routes.context import by_id, components, project_of
from filedock.web.schemas import FileDeleted, file_list, file_object, query_int

# Room for the multipart framing and text fields around the file part.
MULTIPART_OVERHEAD = 1024 * 1024


def _service(request: Request) -> FileService:
    return components(request).files


async def create_file(request: Request) -> Response:
    service = _service(request)
    boundary, declared = multipart_request(
        request, service.size_limit(None) + MULTIPART_OVERHEAD, lambda: service.too_large(None)
    )
    upload = service.create_file(project_of(request))
    await upload.reserve(declared)
    record = await receive_form(request, boundary, FileForm(upload))
    return JSONResponse(file_object(record))


async def list_files(request: Request) -> Response:
    query = request.query_params
    page = await _service(request).list_files(
        project_of(request),
        purpose=query.get("purpose") or None,
        limit=query_int(query, "limit", LIST_LIMIT_MAX),
        # Given but empty is a bad value like any other, not the default.
        order=query.get("order", "desc"),
        after=query.get("after") or None,
        # filedock extensions (docs/api.md); OpenAI clients never send them
        status=query.get("status") or None,
        search=query.get("search") or None,
        sort=query.get("sort") or "created_at",
    )
    return JSONResponse(file_list(page))


def _deleted(record: FileRecord) -> FileDeleted:
    return FileDeleted(id=record.id)


async def download_file(request: Request) -> Response:
    service = _service(request)
    record = await service.download_file(project_of(request), request.path_params["file_id"])
    return BlobResponse(
        size=record.bytes,
        filename=record.filename,
        digest=record.sha256,
        open_range=functools.partial(service.open_content, record),
    )


async def retrieve_file_report(request: Request) -> Response:
    """Documented extension: the full validation report of a file."""
    found = await _service(request).retrieve_file_report(
        project_of(request), request.path_params["file_id"]
    )
    record = found.file
    return JSONResponse(
        {
            "object": "file.report",
            "file_id": record.id,
            "filename": record.filename,
            "status": record.status,
            **{k: v for k, v in found.report.items() if k != "object"},
        }
    )


routes = [
    Route("/v1/files", create_file, methods=["POST"]),
    Route("/v1/files", list_files, methods=["GET"]),
    by_id("GET", "/v1/files/{file_id}", lambda c: c.files.retrieve_file, file_object),
    by_id("DELETE", "/v1/files/{file_id}", lambda c: c.files.delete_file, _deleted),
    Route("/v1/files/{file_id}/content", download_file, methods=["GET"]),
    Route("/v1/files/{file_id}/report", retrieve_file_report, methods=["GET"]),
]
