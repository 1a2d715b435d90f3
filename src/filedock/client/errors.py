"""Typed client errors; each carries the server's OpenAI error envelope (status, message...)."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from typing import Any

import httpx


class FiledockClientError(Exception):
    """Base of every error the client raises."""


class APIConnectionError(FiledockClientError):
    """The server could not be reached or the connection broke mid-request."""


class UploadCancelled(FiledockClientError):
    """A chunked upload was stopped (Ctrl-C or another part failed); the Upload was cancelled."""


class ProcessingTimeout(FiledockClientError):
    """`wait_for_processing` gave up before the file reached a final status."""


@dataclass(eq=False, repr=False)
class APIStatusError(FiledockClientError):
    """The server answered with an error status; fields come from its error envelope."""

    status: int
    message: str
    _: KW_ONLY
    type: str | None = None
    param: str | None = None
    code: str | None = None
    request_id: str | None = None
    body: Any = None

    def __post_init__(self) -> None:
        super().__init__(f"Error {self.status}: {self.message}")

    @property
    def is_missing_route(self) -> bool:
        """True when the server does not know the URL at all (an extension it lacks)."""
        return self.status in (404, 405) and (
            self.message.startswith("Invalid URL") or self.message.startswith("Method not allowed")
        )


class BadRequestError(APIStatusError):
    """400."""


class AuthenticationError(APIStatusError):
    """401."""


class PermissionDeniedError(APIStatusError):
    """403."""


class NotFoundError(APIStatusError):
    """404."""


class ConflictError(APIStatusError):
    """409."""


class UnprocessableEntityError(APIStatusError):
    """422."""


class RateLimitError(APIStatusError):
    """429."""


class InternalServerError(APIStatusError):
    """Any 5xx."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def error_from_response(response: httpx.Response, body: bytes) -> APIStatusError:
    """Build the typed error for an error response whose body has been read."""
    import json

    status = response.status_code
    cls = _BY_STATUS.get(status, InternalServerError if status >= 500 else APIStatusError)
    parsed: Any = None
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        return cls(
            status,
            str(error.get("message") or f"HTTP {status}"),
            type=error.get("type"),
            param=error.get("param"),
            code=error.get("code"),
            request_id=response.headers.get("x-request-id"),
            body=parsed,
        )
    text = body.decode("utf-8", "replace").strip()[:500]
    return cls(
        status,
        text or f"HTTP {status} {response.reason_phrase}",
        request_id=response.headers.get("x-request-id"),
        body=parsed,
    )
