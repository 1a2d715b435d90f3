"""The one reader of JSON request bodies: capped, parsed by msgspec, checked against a Struct.

Whatever a client sends is a 400 envelope, never a 500: bodies over the cap, bytes that are not
JSON (or nest deeper than the parser goes), a body that is not an object, fields of the wrong
type or out of range (integers a database column cannot hold).
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request

from filedock.errors import InvalidRequest

# JSON bodies are small (a complete of 8 GB in 64 MiB parts lists 128 ids); cap what we buffer.
MAX_JSON_BYTES = 4 * 1024 * 1024
INVALID_JSON = (
    "We could not parse the JSON body of your request. The API expects a JSON payload, "
    "but what was sent was not valid JSON."
)

SHOWN_CHARS = 100

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


# msgspec errors -> 400s in api.openai.com's wording ------------------------------------------
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_KINDS = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "array": "array",
    "object": "object",
}


def _path(text: str) -> list[str | int]:
    """`.expires_after.seconds` / `.part_ids[0]` as keys and indices."""
    steps: list[str | int] = []
    for match in re.finditer(r"\.([^.\[]+)|\[(\d+)\]", text):
        steps.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
    return steps


def _param(steps: list[str | int]) -> str | None:
    return ".".join(step for step in steps if isinstance(step, str)) or None


def _at(value: Any, steps: list[str | int]) -> Any:
    for step in steps:
        value = value[step]
    return value


def show(value: Any) -> str:
    """A value as JSON for an error message: short, and safe for any nesting."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (RecursionError, ValueError):
        text = f"<{type(value).__name__}>"
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + "..."


def validation_error(exc: msgspec.ValidationError, body: Any) -> InvalidRequest:
    """The 400 for a JSON `body` that does not fit its Struct (msgspec's error, reworded)."""
    message = str(exc)
    at = _AT.search(message)
    steps = _path(at.group("path")) if at else []
    if at:
        message = message[: at.start()]
    if found := re.fullmatch(r"Object contains unknown field `(.+)`", message):
        name = found.group(1)
        return InvalidRequest(
            f"Additional properties are not allowed ('{name}' was unexpected)",
            param=_param([*steps, name]),
        )
    if found := re.fullmatch(r"Object missing required field `(.+)`", message):
        name = found.group(1)
        return InvalidRequest(f"'{name}' is a required property", param=_param([*steps, name]))
    param = _param(steps)
    try:
        value = _at(body, steps)
    except (KeyError, IndexError, TypeError):
        return InvalidRequest(f"Invalid value - '{param}'", param=param)
    if found := re.fullmatch(r"Expected `int` (<=|>=) (-?\d+)", message):
        relation = "greater than the maximum" if found.group(1) == "<=" else "less than the minimum"
        return InvalidRequest(
            f"{show(value)} is {relation} of {found.group(2)} - '{param}'", param=param
        )
    if found := re.fullmatch(r"Expected `([^`]+)`, got `[^`]+`", message):
        expected = found.group(1).split(" | ")[0]
        kind = _KINDS.get(expected, expected)
        return InvalidRequest(f"{show(value)} is not of type '{kind}' - '{param}'", param=param)
    return InvalidRequest(f"{message} - '{param}'", param=param)
