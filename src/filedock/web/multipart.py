"""Streaming multipart/form-data: parts are fed to a form consumer as the body arrives."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import AsyncIterator, Collection
from typing import Any, Protocol

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from filedock.errors import InvalidRequest

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 16
MAX_HEADER_BYTES = 16 * 1024
MAX_BOUNDARY_BYTES = 256

_TOKEN = r"[^\s;=\"]+"
_PARAM = re.compile(rf'\s*;\s*({_TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')


class FormConsumer(Protocol):
    """What a multipart body is fed to (web/forms.py: FileForm for POST /files, PartForm for
    parts)."""

    def check_field_name(self, name: str, is_file: bool) -> None:
        """Called at the start of each part, before its value is read."""

    def add_field(self, name: str, value: str) -> None:
        """A complete text field."""

    async def open_file(self, filename: str) -> None:
        """A streamed part begins."""

    async def write(self, data: bytes | memoryview) -> None:
        """The next bytes of the streamed part."""


def multipart_boundary(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data body; anything else is a 400."""
    ctype, options = parse_options_header(content_type or "")
    if ctype != b"multipart/form-data":
        shown = content_type or "None"
        raise InvalidRequest(
            f"Invalid Content-Type header ({shown}), expected multipart/form-data."
        )
    boundary = options.get(b"boundary")
    if not boundary:
        raise InvalidRequest(
            f"Invalid Content-Type header ({content_type}), expected multipart/form-data "
            "with a boundary."
        )
    if len(boundary) > MAX_BOUNDARY_BYTES:
        # RFC 2046 allows 70 characters; the parser refuses more than this.
        raise InvalidRequest(
            f"Invalid Content-Type header: the multipart boundary is longer than "
            f"{MAX_BOUNDARY_BYTES} characters."
        )
    return boundary


def parse_content_disposition(value: str) -> tuple[str, dict[str, str]]:
    """Split `form-data; name="x"; filename*=utf-8''...` into its type and parameters.

    Handles quoted strings with backslash escapes, the WHATWG `%22` escaping of quotes that
    browsers and the OpenAI SDKs use, and RFC 5987 `filename*` (which wins over `filename`).
    """
    disposition, _, rest = value.partition(";")
    params: dict[str, str] = {}
    extended: dict[str, str] = {}
    for match in _PARAM.finditer(";" + rest):
        key, raw = match.group(1).lower(), match.group(2).strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
            raw = raw.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")
        if key.endswith("*"):
            charset, _, encoded = raw.partition("'")
            _, _, encoded = encoded.partition("'")
            try:
                extended[key[:-1]] = urllib.parse.unquote(
                    encoded, encoding=charset or "utf-8", errors="strict"
                )
            except (LookupError, UnicodeDecodeError):
                continue
        else:
            params[key] = raw
    params.update(extended)
    return disposition.strip().lower(), params


def _decode_header(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def safe_filename(name: str) -> str:
    """The name to store: no folders, no control characters, never empty."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f").strip()
    return name[:1024] or "upload"


class _Collector:
    """Turns python-multipart's callbacks into a list of events handled after each chunk."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []
        self.finished = False
        self._headers: dict[str, str] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._header_bytes = 0

    def callbacks(self) -> Any:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._header_bytes = 0

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._count(end - start)
        self._field += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._count(end - start)
        self._value += data[start:end]

    def _count(self, n: int) -> None:
        self._header_bytes += n
        if self._header_bytes > MAX_HEADER_BYTES:
            raise InvalidRequest("Invalid multipart body: part headers are too large.")

    def _header_end(self) -> None:
        self._headers[_decode_header(bytes(self._field)).lower()] = _decode_header(
            bytes(self._value)
        )
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        self.events.append(("part", self._headers))

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        self.events.append(("data", memoryview(data)[start:end]))

    def _part_end(self) -> None:
        self.events.append(("end", None))

    def _end(self) -> None:
        self.finished = True


async def feed_multipart(
    chunks: AsyncIterator[bytes],
    boundary: bytes,
    upload: FormConsumer,
    *,
    stream_text_fields: Collection[str] = (),
) -> None:
    """Parse the body and hand each field and the file's bytes to `upload` as they arrive.

    Parts with a filename are streamed; so are text fields named in `stream_text_fields`
    (curl's `-F data=...` sends an upload part's bytes as a text field of any size).
    """
    collector = _Collector()
    parser = MultipartParser(boundary, collector.callbacks())
    parts = 0
    name = ""
    is_file = False
    value = bytearray()
    async for chunk in chunks:
        if not chunk:
            continue
        try:
            parser.write(chunk)
        except MultipartParseError as exc:
            raise InvalidRequest(f"Invalid multipart body: {exc}") from None
        for kind, payload in collector.events:
            if kind == "part":
                parts += 1
                if parts > MAX_PARTS:
                    raise InvalidRequest("Invalid multipart body: too many parts.")
                disposition, params = parse_content_disposition(
                    payload.get("content-disposition", "")
                )
                if disposition != "form-data" or "name" not in params:
                    raise InvalidRequest(
                        "Invalid multipart body: every part needs "
                        "'Content-Disposition: form-data; name=...'."
                    )
                name = params["name"]
                has_filename = "filename" in params
                upload.check_field_name(name, has_filename)
                is_file = has_filename or name in stream_text_fields
                if is_file:
                    await upload.open_file(safe_filename(params.get("filename", "")))
                value = bytearray()
            elif kind == "data":
                if is_file:
                    await upload.write(payload)
                else:
                    value += payload
                    if len(value) > MAX_FIELD_BYTES:
                        raise InvalidRequest(f"Form field '{name}' is too long.", param=name)
            elif not is_file:
                try:
                    text = value.decode("utf-8")
                except UnicodeDecodeError:
                    raise InvalidRequest(
                        f"Form field '{name}' is not valid UTF-8.", param=name
                    ) from None
                upload.add_field(name, text)
        collector.events.clear()
    if not collector.finished:
        raise InvalidRequest("Invalid multipart body: it ends before the closing boundary.")
