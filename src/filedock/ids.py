"""Identifier formats: the shapes api.openai.com uses."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _base58(prefix: str, length: int) -> Callable[[], str]:
    """Ids of `prefix` + `length` base58 characters."""
    return lambda: prefix + "".join(secrets.choice(BASE58) for _ in range(length))


def _hex(prefix: str, nbytes: int) -> Callable[[], str]:
    """Ids of `prefix` + 2 * `nbytes` lowercase hex."""
    return lambda: prefix + secrets.token_hex(nbytes)


def _timed_hex(prefix: str) -> Callable[[], str]:
    """Ids of `prefix` + 32 lowercase hex, the first 8 the creation time (as OpenAI's)."""
    return lambda: prefix + f"{int(time.time()) & 0xFFFFFFFF:08x}" + secrets.token_hex(12)


new_file_id = _base58("file-", 22)
new_project_id = _base58("proj_", 24)
new_upload_id = _timed_hex("upload_")
new_part_id = _timed_hex("part_")
new_batch_id = _timed_hex("batch_")
# One line of a batch's output or error file.
new_batch_request_id = _hex("batch_req_", 16)
# A webhook event.
new_event_id = _hex("evt_", 16)
new_key_id = _hex("key_", 8)
new_blob_key = _hex("", 16)
new_reservation_id = _hex("qres_", 12)


def new_api_key() -> str:
    """A fresh secret API key (shown once, stored hashed)."""
    return "sk-fd-" + secrets.token_urlsafe(36)
