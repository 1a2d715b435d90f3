"""What the routes read from a request besides its body (the services, the caller's project),
and the one shape of route that acts on an object named in the path."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from filedock.components import Components
from filedock.services.keys import Principal
from filedock.web.responses import JSONResponse

T = TypeVar("T")


def components(request: Request) -> Components:
    """The services of the app (built once by `Components.build`, kept on its state)."""
    built: Components = request.app.state.components
    return built


def project_of(request: Request) -> str:
    """The project of the authenticated caller (set by the request middleware)."""
    principal: Principal = request.state.principal
    return principal.project_id


def by_id(
    method: str,
    path: str,
    call: Callable[[Components], Callable[[str, str], Awaitable[T]]],
    render: Callable[[T], Any],
) -> Route:
    """A route that calls `call(components)(project, id)` for the id in the path (its last
    parameter) and renders what it returns as JSON."""
    param = re.findall(r"{(\w+)}", path)[-1]

    async def endpoint(request: Request) -> Response:
        found = await call(components(request))(project_of(request), request.path_params[param])
        return JSONResponse(render(found))

    return Route(path, endpoint, methods=[method])
