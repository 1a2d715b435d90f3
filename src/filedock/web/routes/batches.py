"""Routes of the Batch API: parse the request, call BatchService, render the Batch object."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from filedock.services.batches import LIST_LIMIT_DEFAULT
from filedock.web.batch_requests import parse_create_batch
from filedock.web.batch_schemas import batch_list, batch_object
from filedock.web.json_body import MAX_JSON_BYTES, decode_json, read_body
from filedock.web.responses import JSONResponse
from filedock.web.routes.context import by_id, components, project_of
from filedock.web.schemas import query_int


async def create_batch(request: Request) -> Response:
    fields = parse_create_batch(decode_json(await read_body(request, MAX_JSON_BYTES)))
    record = await components(request).batches.create_batch(project_of(request), fields)
    return JSONResponse(batch_object(record))


async def list_batches(request: Request) -> Response:
    params = request.query_params
    page = await components(request).batches.list_batches(
        project_of(request),
        after=params.get("after") or None,
        limit=query_int(params, "limit", LIST_LIMIT_DEFAULT),
    )
    return JSONResponse(batch_list(page))


routes = [
    Route("/v1/batches", create_batch, methods=["POST"]),
    Route("/v1/batches", list_batches, methods=["GET"]),
    by_id("GET", "/v1/batches/{batch_id}", lambda c: c.batches.retrieve_batch, batch_object),
    by_id("POST", "/v1/batches/{batch_id}/cancel", lambda c: c.batches.cancel_batch, batch_object),
]
