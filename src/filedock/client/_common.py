"""What the sync and async clients share: configuration, multipart framing, part plans, progress."""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from filedock import __version__
from filedock.client.errors import FiledockClientError

MiB = 1024 * 1024
DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
# Files at least this big go through the Uploads API (create, parallel parts, complete).
DEFAULT_CHUNK_THRESHOLD = 64 * MiB
DEFAULT_PART_SIZE = 16 * MiB
MAX_PART_SIZE = 64 * MiB  # OpenAI's limit per part
DEFAULT_PARALLEL_PARTS = 4
DEFAULT_PART_RETRIES = 3
TERMINAL_STATES = frozenset({"processed", "error", "deleted"})
# Statuses worth resending a part for: the same rule the official SDK applies to every request.
RETRYABLE_STATUSES = frozenset({408, 409, 429})

ProgressCallback = Callable[[int, int | None], None]
"""Called with (bytes done, total bytes or None); values never decrease and end at the total."""


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    api_key: str
    chunk_threshold: int
    part_size: int
    max_parallel_parts: int
    part_retries: int

    @classmethod
    def resolve(
        cls,
        base_url: str | None,
        api_key: str | None,
        *,
        chunk_threshold: int,
        part_size: int,
        max_parallel_parts: int,
        part_retries: int,
        env: Mapping[str, str] | None = None,
    ) -> ClientConfig:
        """Arguments first, then OPENAI_BASE_URL / OPENAI_API_KEY, as the official SDK does."""
        env = os.environ if env is None else env
        url = base_url or env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        key = api_key or env.get("OPENAI_API_KEY")
        if not key:
            raise FiledockClientError(
                "No API key: pass api_key= (or --api-key) or set OPENAI_API_KEY."
            )
        if not 0 < part_size <= MAX_PART_SIZE:
            raise ValueError(f"part_size must be between 1 and {MAX_PART_SIZE} bytes")
        if max_parallel_parts < 1:
            raise ValueError("max_parallel_parts must be at least 1")
        return cls(
            base_url=url.rstrip("/"),
            api_key=key,
            chunk_threshold=chunk_threshold,
            part_size=part_size,
            max_parallel_parts=max_parallel_parts,
            part_retries=max(0, part_retries),
        )

    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.api_key}",
            "User-Agent": f"filedock-client/{__version__}",
        }


def retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or status >= 500


def _quote_filename(name: str) -> str:
    # As the official SDK does: raw UTF-8, with the characters that would break the header escaped.
    return name.replace("\\", "\\\\").replace('"', "%22").replace("\r", "").replace("\n", "")


@dataclass(frozen=True)
class MultipartFrame:
    """The bytes around one streamed file part: head (text fields + part header) and tail."""

    boundary: str
    head: bytes
    tail: bytes

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def content_length(self, file_size: int) -> int:
        return len(self.head) + file_size + len(self.tail)


def multipart_frame(
    fields: list[tuple[str, str]], file_field: str, filename: str, mime_type: str
) -> MultipartFrame:
    boundary = "filedock-" + secrets.token_hex(16)
    out = bytearray()
    for name, value in fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode("utf-8") + b"\r\n"
    out += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
        f'filename="{_quote_filename(filename)}"\r\nContent-Type: {mime_type}\r\n\r\n'
    ).encode()
    return MultipartFrame(boundary, bytes(out), f"\r\n--{boundary}--\r\n".encode())


def file_fields(purpose: str, expires_after: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """The text fields of `POST /files`, encoded the way the official SDK encodes them."""
    fields = [("purpose", purpose)]
    if expires_after is not None:
        fields.append(("expires_after[anchor]", str(expires_after.get("anchor", "created_at"))))
        fields.append(("expires_after[seconds]", str(int(expires_after["seconds"]))))
    return fields


def upload_body(
    filename: str,
    purpose: str,
    size: int,
    mime_type: str,
    expires_after: Mapping[str, Any] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "filename": filename,
        "purpose": purpose,
        "bytes": size,
        "mime_type": mime_type,
    }
    if expires_after is not None:
        body["expires_after"] = {
            "anchor": expires_after.get("anchor", "created_at"),
            "seconds": int(expires_after["seconds"]),
        }
    return body


def plan_parts(size: int, part_size: int) -> list[tuple[int, int]]:
    """[start, end) of each part; an empty file still has one (empty) part."""
    if size == 0:
        return [(0, 0)]
    return [(start, min(start + part_size, size)) for start in range(0, size, part_size)]


class ProgressTracker:
    """Sums bytes sent over concurrent parts; a retried part never makes the total go back."""

    def __init__(self, total: int | None, callback: ProgressCallback | None) -> None:
        self.total = total
        self._callback = callback
        self._lock = threading.Lock()
        self._high: dict[int, int] = {}
        self._done = 0
        self._reported = -1

    def start(self) -> None:
        self._emit(0)

    def update(self, key: int, sent_in_attempt: int) -> None:
        """Report that the current attempt of part `key` has sent `sent_in_attempt` bytes."""
        with self._lock:
            previous = self._high.get(key, 0)
            if sent_in_attempt <= previous:
                return
            self._high[key] = sent_in_attempt
            self._done += sent_in_attempt - previous
            self._emit_locked(self._done)

    def finish(self) -> None:
        with self._lock:
            self._emit_locked(self.total if self.total is not None else self._done)

    def _emit(self, done: int) -> None:
        with self._lock:
            self._emit_locked(done)

    def _emit_locked(self, done: int) -> None:
        if self._callback is None or done <= self._reported:
            return
        self._reported = done
        self._callback(done, self.total)
