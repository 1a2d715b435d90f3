"""Request shapes of the HTTP API (msgspec Structs) and the errors that name a bad field.

A body that does not fit its shape is a 400 in the wording of api.openai.com's JSON-schema
errors (`5 is not of type 'string' - 'filename'`), with `param` naming the field.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from filedock.errors import InvalidRequest
from filedock.models import ROLE_MEMBER

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Integers a database column holds (SQLite and PostgreSQL BIGINT): larger ones are a 400 here,
# not an overflow in the store.
Int64 = Annotated[int, Meta(ge=INT64_MIN, le=INT64_MAX)]
SHOWN_CHARS = 100


# Uploads API ---------------------------------------------------------------------------------
class ExpiresAfter(Struct, forbid_unknown_fields=True):
    anchor: str | None = None
    seconds: int | str | None = None


class CreateUploadRequest(Struct, forbid_unknown_fields=True):
    filename: str
    purpose: str
    bytes: int
    mime_type: str
    expires_after: ExpiresAfter | None = None


class CompleteUploadRequest(Struct, forbid_unknown_fields=True):
    part_ids: list[str]
    md5: str | None = None


# Admin API -----------------------------------------------------------------------------------
class CreateProjectRequest(Struct, forbid_unknown_fields=True):
    name: str
    storage_quota_bytes: Int64 | None = None
    max_requests_per_1_minute: Int64 | None = None
    max_uploads_per_1_minute: Int64 | None = None


class ModifyProjectRequest(Struct, forbid_unknown_fields=True):
    """Fields left out stay as they are; a limit given as null returns to the server default."""

    name: str | UnsetType = UNSET
    storage_quota_bytes: Int64 | UnsetType | None = UNSET
    max_requests_per_1_minute: Int64 | UnsetType | None = UNSET
    max_uploads_per_1_minute: Int64 | UnsetType | None = UNSET


class CreateApiKeyRequest(Struct, forbid_unknown_fields=True):
    name: str = ""
    role: str = ROLE_MEMBER
    expires_at: Int64 | None = None


# Shared pieces -------------------------------------------------------------------------------
def expires_after_seconds(anchor: str | None, seconds: int | str | None) -> int | None:
    """The `expires_after` of a request (form fields or JSON) as seconds; None if not given.

    The range is the service's rule (FileService.expiry_seconds); this checks the shape.
    """
    if anchor is None and seconds is None:
        return None
    if anchor is None:
        raise InvalidRequest("'anchor' is a required property", param="expires_after.anchor")
    if seconds is None:
        raise InvalidRequest("'seconds' is a required property", param="expires_after.seconds")
    if anchor != "created_at":
        raise InvalidRequest(
            f"'{anchor}' is not one of ['created_at'] - 'expires_after.anchor'",
            param="expires_after.anchor",
        )
    if isinstance(seconds, int):
        return seconds
    try:
        return int(seconds.strip())
    except ValueError:
        raise InvalidRequest(
            f"'{seconds}' is not a valid integer - 'expires_after.seconds'",
            param="expires_after.seconds",
        ) from None


def query_int(query: Any, name: str, default: int) -> int:
    """An integer query parameter (`query` is a Starlette QueryParams or any mapping)."""
    raw = query.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidRequest(f"'{raw}' is not a valid integer - '{name}'", param=name) from None


# msgspec errors -> our 400s ------------------------------------------------------------------
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
