"""What the routes read from a request besides its body: the caller's project, the declared size."""

from __future__ import annotations

from starlette.requests import Request

from filedock.services.keys import Principal


def project_of(request: Request) -> str:
    """The project of the authenticated caller (set by the request middleware)."""
    principal: Principal = request.state.principal
    return principal.project_id


def declared_length(request: Request) -> int | None:
    """The body size the client declared in Content-Length (None: absent or not a number)."""
    declared = request.headers.get("content-length")
    return int(declared) if declared and declared.isdigit() else None
