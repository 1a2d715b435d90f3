"""The ASGI application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Match, Route

from filedock.clock import Clock
from filedock.components import Components
from filedock.errors import FiledockError, InvalidRequest, MethodNotAllowed, NotFound, ServerError
from filedock.settings import Settings
from filedock.web.middleware.observability import RequestObserver, metrics_endpoint
from filedock.web.middleware.request import RequestMiddleware
from filedock.web.responses import JSONResponse, error_response
from filedock.web.routes import admin, batches, files, uploads
from filedock.web.routes.dashboard import dashboard_routes

log = logging.getLogger("filedock.web")


async def _filedock_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FiledockError)
    if exc.status >= 500:
        log.error("request %s failed: %s", request.state.request_id, exc, exc_info=exc)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    described = f"{request.method} {request.url.path}"
    error: FiledockError
    if exc.status_code == 404:
        error = NotFound(f"Invalid URL ({described})")
    elif exc.status_code == 405:
        error = MethodNotAllowed(
            f"Method not allowed ({described})", headers={"Allow": _allowed_methods(request)}
        )
    else:
        error = InvalidRequest(str(exc.detail))
    return error_response(error)


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The client hung up mid-request (an interrupted upload): nothing was kept, nobody to answer.
    log.info("client disconnected during %s %s", request.method, request.url.path)
    return Response(status_code=400)


def _allowed_methods(request: Request) -> str:
    # One path is served by several single-method routes: Allow must name all of them.
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**request.scope, "method": "GET"})
            if match != Match.NONE:
                methods |= route.methods
    return ", ".join(sorted(methods))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.error("request %s failed unexpectedly", request.state.request_id, exc_info=exc)
    response = error_response(ServerError("The server had an error while processing your request."))
    # This response is sent from outside RequestMiddleware, so the id is added here.
    response.headers["x-request-id"] = request.state.request_id
    return response


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    components: Components = request.app.state.components
    try:
        await components.metadata.ping()
        await components.blobs.ping()
    except FiledockError as exc:
        return JSONResponse({"status": "unavailable", "reason": exc.message}, status_code=503)
    return JSONResponse({"status": "ready"})


def create_app(
    settings: Settings, *, background: bool = True, clock: Clock | None = None
) -> Starlette:
    """Build the app; stores open in the lifespan and close on shutdown. `clock` (default: the
    system clock) is the time every service sees."""
    components = Components.build(settings, clock=clock)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await components.open()
        if background:
            await components.start_background()
        try:
            yield
        finally:
            await components.close()

    app = Starlette(
        routes=[
            *files.routes,
            *uploads.routes,
            *batches.routes,
            *admin.routes,
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        exception_handlers={
            FiledockError: _filedock_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            Exception: _unexpected_error,
        },
        lifespan=lifespan,
    )
    app.state.components = components
    # Dashboard at / and metrics at /metrics (public: authentication guards /v1 only).
    app.router.routes.extend(dashboard_routes())
    metrics = components.metrics
    app.state.metrics = metrics
    if settings.metrics_enabled:
        app.router.routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    observer = RequestObserver(metrics, lambda: app.router.routes, access=settings.access_log)
    app.add_middleware(RequestMiddleware, components=components, observer=observer)
    return app
