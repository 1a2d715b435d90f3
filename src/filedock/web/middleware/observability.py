"""What the request middleware records: metrics by route template, the access log, GET /metrics."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.metrics import Counter, Histogram
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import Scope

from filedock.components import Components
from filedock.logs import redact_query
from filedock.metrics import Metrics

access_log = logging.getLogger("filedock.access")
UNMATCHED = "<unmatched>"


def is_upload(method: str, path: str) -> bool:
    """Requests whose body bytes count as uploaded (POST /v1/files, Upload parts)."""
    return method == "POST" and (
        path == "/v1/files" or (path.startswith("/v1/uploads/") and path.endswith("/parts"))
    )


def is_download(method: str, path: str) -> bool:
    """Requests whose response bytes count as downloaded (a file's content)."""
    return method == "GET" and path.startswith("/v1/files/") and path.endswith("/content")


class RequestObserver:
    """Counts and times requests by method, route template and status; writes the access log.

    Kept cheap: route templates by endpoint and labelled metric children are cached.
    """

    def __init__(
        self, metrics: Metrics, routes: Callable[[], list[BaseRoute]], access: bool
    ) -> None:
        self.metrics = metrics
        self.routes = routes
        self.access = access
        self._templates: dict[Any, str] | None = None
        self._counters: dict[tuple[str, str, int], Counter] = {}
        self._timers: dict[tuple[str, str], Histogram] = {}

    def template(self, scope: Scope) -> str:
        """The route template that served (or would have served) the request."""
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

    def record(self, scope: Scope, status: int, elapsed: float) -> None:
        method: str = scope["method"]
        route = self.template(scope)
        key = (method, route, status)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.metrics.requests.labels(method, route, str(status))
        counter.inc()
        timer = self._timers.get((method, route))
        if timer is None:
            timer = self._timers[(method, route)] = self.metrics.latency.labels(method, route)
        timer.observe(elapsed)
        if self.access:
            self._log(scope, method, route, status, elapsed)

    def _log(self, scope: Scope, method: str, route: str, status: int, elapsed: float) -> None:
        path: str = scope["path"]
        # A key sent as ?api_key= (or any secret-looking parameter) is never written.
        query = redact_query(scope.get("query_string", b"").decode("latin-1"))
        target = f"{path}?{query}" if query else path
        access_log.info(
            "%s %s %s %.1fms",
            method,
            target,
            status,
            elapsed * 1000,
            extra={
                "method": method,
                "path": path,
                "query": query,
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
            },
        )


async def metrics_endpoint(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    components: Components = request.app.state.components
    await metrics.refresh_storage(components.metadata, components.clock.now())
    body = await anyio.to_thread.run_sync(metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
