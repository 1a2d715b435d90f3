"""Identifier formats: the shapes api.openai.com uses."""

from __future__ import annotations

import secrets
import time

BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def _base58(n: int) -> str:
    return "".join(secrets.choice(BASE58) for _ in range(n))


def new_file_id() -> str:
    """`file-` + 22 base58 characters."""
    return "file-" + _base58(22)


def _hex_with_time() -> str:
    # OpenAI puts the creation time in the first 8 hex digits.
    return f"{int(time.time()) & 0xFFFFFFFF:08x}" + secrets.token_hex(12)


def new_upload_id() -> str:
    """`upload_` + 32 lowercase hex."""
    return "upload_" + _hex_with_time()


def new_part_id() -> str:
    """`part_` + 32 lowercase hex."""
    return "part_" + _hex_with_time()


def new_api_key() -> str:
    """A fresh secret API key (shown once, stored hashed)."""
    return "sk-fd-" + secrets.token_urlsafe(36)


def new_key_id() -> str:
    return "key_" + secrets.token_hex(8)


def new_blob_key() -> str:
    return secrets.token_hex(16)


def new_project_id() -> str:
    """`proj_` + 24 base58 characters."""
    return "proj_" + _base58(24)


def new_reservation_id() -> str:
    return "qres_" + secrets.token_hex(12)


def new_batch_id() -> str:
    """`batch_` + 32 lowercase hex."""
    return "batch_" + _hex_with_time()


def new_batch_request_id() -> str:
    """`batch_req_` + 32 lowercase hex (one line of an output or error file)."""
    return "batch_req_" + secrets.token_hex(16)


def new_event_id() -> str:
    """`evt_` + 32 lowercase hex (a webhook event)."""
    return "evt_" + secrets.token_hex(16)
