"""The one reader of JSON request bodies: capped, parsed by msgspec, checked against a Struct.

Whatever a client sends is a 400 envelope, never a 500: bodies over the cap, bytes that are not
JSON (or nest deeper than the parser goes), a body that is not an object, fields of the wrong
type or out of range (integers a database column cannot hold).
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from starlette.requests import Request

from filedock.errors import InvalidRequest
from filedock.web.schemas import validation_error

# JSON bodies are small (a complete of 8 GB in 64 MiB parts lists 128 ids); cap what we buffer.
MAX_JSON_BYTES = 4 * 1024 * 1024
INVALID_JSON = (
    "We could not parse the JSON body of your request. The API expects a JSON payload, "
    "but what was sent was not valid JSON."
)

T = TypeVar("T")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The whole body, or a 400 as soon as it passes `max_bytes`."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise InvalidRequest(f"The JSON body is larger than {max_bytes} bytes.")
    return bytes(body)


def decode_json(raw: bytes) -> Any:
    """Any JSON value; malformed or too deeply nested JSON is a 400."""
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        raise InvalidRequest(INVALID_JSON) from None


def convert(value: Any, shape: type[T]) -> T:
    """A decoded JSON object as the Struct `shape`; a field that does not fit is a 400."""
    if not isinstance(value, dict):
        raise InvalidRequest("The JSON body must be an object.")
    try:
        return msgspec.convert(value, shape)
    except msgspec.ValidationError as exc:
        raise validation_error(exc, value) from None
    except RecursionError:
        raise InvalidRequest(INVALID_JSON) from None


async def read_json(
    request: Request,
    shape: type[T],
    *,
    max_bytes: int = MAX_JSON_BYTES,
    empty_is_object: bool = False,
) -> T:
    """The request's JSON body as `shape`. With `empty_is_object`, no body at all means `{}`."""
    raw = await read_body(request, max_bytes)
    if empty_is_object and not raw.strip():
        return convert({}, shape)
    return convert(decode_json(raw), shape)
