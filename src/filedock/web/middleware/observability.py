"""Request metrics and log context (pure ASGI), and the GET /metrics endpoint."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.metrics import Counter, Histogram
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route

from filedock.components import Components
from filedock.logs import request_id_var
from filedock.metrics import Metrics
from filedock.settings import Settings
from filedock.web.middleware.auth import ASGIApp, Message, Receive, Scope, Send

access_log = logging.getLogger("filedock.access")
UNMATCHED = "<unmatched>"


def _is_upload(method: str, path: str) -> bool:
    return method == "POST" and (
        path == "/v1/files" or (path.startswith("/v1/uploads/") and path.endswith("/parts"))
    )


def _is_download(method: str, path: str) -> bool:
    return method == "GET" and path.startswith("/v1/files/") and path.endswith("/content")


class ObservabilityMiddleware:
    """Times each request, counts it by route template and status, sets the log request id.

    Kept cheap: no per-request allocation beyond two closures, labelled children cached.
    """

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        routes: Callable[[], list[BaseRoute]],
        access: bool = False,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.access = access
        self._templates: dict[Any, str] | None = None
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._timers: dict[tuple[str, str], Histogram] = {}

    def _template(self, scope: Scope) -> str:
        if self._templates is None:
            templates: dict[Any, str] = {}
            for route in self.routes():
                if isinstance(route, Route):
                    templates[route.endpoint] = route.path
                elif isinstance(route, Mount):
                    templates[route.app] = route.path + "/{path}"
            self._templates = templates
        endpoint = scope.get("endpoint")
        if endpoint is not None and endpoint in self._templates:
            return self._templates[endpoint]
        # Not routed (e.g. refused by authentication): match the templates without dispatching.
        for route in self.routes():
            match, child = route.matches(scope)
            if match is Match.FULL:
                return self._templates.get(child.get("endpoint"), UNMATCHED)
        return UNMATCHED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = request_id_var.set(scope.get("state", {}).get("request_id"))
        method: str = scope["method"]
        path: str = scope["path"]
        metrics = self.metrics
        status = 500
        start = time.perf_counter()
        upload = _is_upload(method, path)
        download = _is_download(method, path)

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif download and message["type"] == "http.response.body" and status < 300:
                metrics.downloaded_bytes.inc(len(message.get("body", b"")))
            await send(message)

        inner_receive = receive
        if upload:
            metrics.uploads_in_flight.inc()

            async def receive_counted() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    metrics.uploaded_bytes.inc(len(message.get("body", b"")))
                return message

            inner_receive = receive_counted
        try:
            await self.app(scope, inner_receive, send_observed)
        finally:
            elapsed = time.perf_counter() - start
            if upload:
                metrics.uploads_in_flight.dec()
            route = self._template(scope)
            key = (method, route, status)
            counter = self._counters.get(key)
            if counter is None:
                counter = self._counters[key] = metrics.requests.labels(method, route, str(status))
            counter.inc()
            timer = self._timers.get((method, route))
            if timer is None:
                timer = self._timers[(method, route)] = metrics.latency.labels(method, route)
            timer.observe(elapsed)
            if self.access:
                access_log.info(
                    "%s %s %s %.1fms",
                    method,
                    path,
                    status,
                    elapsed * 1000,
                    extra={
                        "method": method,
                        "path": path,
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                    },
                )
            request_id_var.reset(token)


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    components: Components = request.app.state.components
    await metrics.refresh_storage(components.metadata, components.clock.now())
    body = await anyio.to_thread.run_sync(metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def install_observability(app: Starlette, settings: Settings, metrics: Metrics) -> None:
    """Serve `metrics` (the app's own, built by Components) at /metrics and add the observing
    middleware.

    Call it before adding RequestIdMiddleware, so this middleware runs inside it and sees the id.
    """
    app.state.metrics = metrics
    if settings.metrics_enabled:
        app.router.routes.append(Route("/metrics", metrics_endpoint, methods=["GET"]))
    app.add_middleware(
        ObservabilityMiddleware,
        metrics=metrics,
        routes=lambda: app.router.routes,
        access=settings.access_log,
    )
