"""The create-batch request: its JSON body checked field by field, as OpenAI answers it.

The shape of the request is the web layer's business; BatchService takes the typed fields.
"""

from __future__ import annotations

import json
from typing import Any

from filedock.errors import InvalidRequest
from filedock.models import BATCH_ENDPOINTS
from filedock.services.batches import CreateBatch
from filedock.services.files import EXPIRY_MAX_SECONDS, EXPIRY_MIN_SECONDS

CREATE_FIELDS = (
    "input_file_id",
    "endpoint",
    "completion_window",
    "metadata",
    "output_expires_after",
)
METADATA_MAX_KEYS = 16
METADATA_KEY_MAX = 64
METADATA_VALUE_MAX = 512


def _one_of(value: Any, allowed: tuple[str, ...], param: str) -> InvalidRequest:
    listed = "[" + ", ".join(f"'{a}'" for a in allowed) + "]"
    return InvalidRequest(f"{json.dumps(value)} is not one of {listed} - '{param}'", param=param)


def parse_create_batch(body: Any) -> CreateBatch:
    """The create request's fields, checked; raises InvalidRequest naming the field."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    for key in body:
        if key not in CREATE_FIELDS:
            raise InvalidRequest(
                f"Additional properties are not allowed ('{key}' was unexpected)", param=key
            )
    for key in ("input_file_id", "endpoint", "completion_window"):
        if key not in body:
            raise InvalidRequest(f"'{key}' is a required property", param=key)
    if not isinstance(body["input_file_id"], str) or not body["input_file_id"]:
        raise InvalidRequest(
            f"{json.dumps(body['input_file_id'])} is not of type 'string' - 'input_file_id'",
            param="input_file_id",
        )
    if body["endpoint"] not in BATCH_ENDPOINTS:
        raise _one_of(body["endpoint"], BATCH_ENDPOINTS, "endpoint")
    if body["completion_window"] != "24h":
        raise _one_of(body["completion_window"], ("24h",), "completion_window")
    _check_metadata(body.get("metadata"))
    return CreateBatch(
        input_file_id=body["input_file_id"],
        endpoint=body["endpoint"],
        metadata=body.get("metadata"),
        output_expires_after=_expires_after(body.get("output_expires_after")),
    )


def _check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        raise InvalidRequest("'metadata' must be an object of strings", param="metadata")
    if len(metadata) > METADATA_MAX_KEYS:
        raise InvalidRequest(
            f"Invalid 'metadata': too many keys ({len(metadata)}); at most "
            f"{METADATA_MAX_KEYS} are allowed",
            param="metadata",
        )
    for key, value in metadata.items():
        if len(key) > METADATA_KEY_MAX:
            raise InvalidRequest(
                f"Invalid 'metadata': key '{key[:20]}...' is longer than "
                f"{METADATA_KEY_MAX} characters",
                param="metadata",
            )
        if not isinstance(value, str):
            raise InvalidRequest(
                f"Invalid 'metadata': the value of '{key}' must be a string",
                param=f"metadata.{key}",
            )
        if len(value) > METADATA_VALUE_MAX:
            raise InvalidRequest(
                f"Invalid 'metadata': the value of '{key}' is longer than "
                f"{METADATA_VALUE_MAX} characters",
                param=f"metadata.{key}",
            )


def _expires_after(value: Any) -> int | None:
    if value is None:
        return None
    param = "output_expires_after"
    if not isinstance(value, dict):
        raise InvalidRequest(f"'{param}' must be an object", param=param)
    unknown = set(value) - {"anchor", "seconds"}
    if unknown:
        raise InvalidRequest(
            f"Additional properties are not allowed ('{sorted(unknown)[0]}' was unexpected)",
            param=param,
        )
    if value.get("anchor") != "created_at":
        raise _one_of(value.get("anchor"), ("created_at",), f"{param}.anchor")
    seconds = value.get("seconds")
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise InvalidRequest(
            f"{json.dumps(seconds)} is not of type 'integer' - '{param}.seconds'",
            param=f"{param}.seconds",
        )
    if not EXPIRY_MIN_SECONDS <= seconds <= EXPIRY_MAX_SECONDS:
        raise InvalidRequest(
            f"{seconds} is out of range: {param}.seconds must be between "
            f"{EXPIRY_MIN_SECONDS} and {EXPIRY_MAX_SECONDS}",
            param=f"{param}.seconds",
        )
    return seconds
