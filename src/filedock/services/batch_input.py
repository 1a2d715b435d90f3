"""A batch's input file, checked and indexed in one streaming pass (constant memory).

The bytes go through the batch validator (validation/, the file checks every upload gets) and
through a line splitter that records, for each request, its line number, custom_id, and where
its bytes are in the blob (offset and length), as `batch_requests` rows. The runner later reads
each request by a ranged read; the input is never held in memory.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio.to_thread
import msgspec

from filedock.blobs.base import BlobStore
from filedock.models import BatchLine
from filedock.validation import ValidationOptions, validator_for

BOM = b"\xef\xbb\xbf"
FEED_BYTES = 1024 * 1024
ROWS_PER_INSERT = 2000


class _Body(msgspec.Struct):
    model: Any = None


class _Request(msgspec.Struct):
    custom_id: Any = None
    url: Any = None
    body: Any = None


_decoder = msgspec.json.Decoder(_Request)
_body_decoder = msgspec.json.Decoder(_Body)


@dataclass
class LineSplitter:
    """Physical lines with their byte offsets; numbering matches the validator's (1-based,
    blank lines counted, a UTF-8 BOM and CR line ends not part of a request)."""

    batch_id: str
    endpoint: str
    max_line_bytes: int
    max_errors: int
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0
    first_model_line: int | None = None
    _pending: bytearray = field(default_factory=bytearray)
    _pending_at: int = 0  # offset of the pending partial line in the blob
    _seen: int = 0  # bytes fed so far
    _line: int = 0
    _skipping: bool = False
    _started: bool = False
    _head: bytes = b""

    def feed(self, chunk: bytes) -> list[BatchLine]:
        if not self._started:
            # A byte order mark may arrive split over chunks: hold bytes until it is decided.
            self._head += chunk
            if len(self._head) < len(BOM) and BOM.startswith(self._head):
                return []
            self._started = True
            data, self._head = bytes(self._head), b""
            start = len(BOM) if data.startswith(BOM) else 0
            self._pending_at = start
            return self._feed(data, start)
        return self._feed(chunk, 0)

    def _feed(self, chunk: bytes, start: int) -> list[BatchLine]:
        out: list[BatchLine] = []
        base = self._seen
        self._seen += len(chunk)
        while True:
            cut = chunk.find(b"\n", start)
            if cut < 0:
                if not self._skipping:
                    self._pending += chunk[start:]
                    if len(self._pending) > self.max_line_bytes:
                        self._skipping, self._pending = True, bytearray()
                return out
            if self._skipping:
                self._skipping = False
                self._line += 1
            elif self._pending:
                self._pending += chunk[start:cut]
                self._take(bytes(self._pending), self._pending_at, out)
                self._pending.clear()
            else:
                self._take(chunk[start:cut], base + start, out)
            start = cut + 1
            self._pending_at = base + start

    def finish(self) -> list[BatchLine]:
        out: list[BatchLine] = []
        if not self._started and self._head:
            self._started = True
            out += self._feed(bytes(self._head), 0)
        if self._pending and not self._skipping:
            self._take(bytes(self._pending), self._pending_at, out)
        self._pending.clear()
        return out

    def _take(self, raw: bytes, offset: int, out: list[BatchLine]) -> None:
        self._line += 1
        length = len(raw) - 1 if raw.endswith(b"\r") else len(raw)
        if not raw.strip():
            return
        try:
            request = _decoder.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
            return  # the validator reports what is wrong with it
        if isinstance(request.url, str) and request.url != self.endpoint:
            self.error(
                "url_mismatch",
                f"url '{request.url}' does not match the batch's endpoint '{self.endpoint}'",
                self._line,
                "url",
            )
        if self.first_model_line is None and isinstance(request.body, dict):
            self.first_model_line = self._line
        if isinstance(request.custom_id, str):
            out.append(BatchLine(self.batch_id, self._line, request.custom_id, offset, length))

    def error(self, code: str, message: str, line: int | None, param: str | None) -> None:
        self.error_count += 1
        if len(self.errors) < self.max_errors:
            self.errors.append({"code": code, "message": message, "param": param, "line": line})


@dataclass
class InputCheck:
    """What the pass found: the requests' count and model, or the errors (with line numbers)."""

    requests: int
    stored: int  # request rows written (equals `requests` for a valid input)
    model: str | None
    model_line: int
    errors: list[dict[str, Any]]


async def check_input(
    blobs: BlobStore,
    blob_key: str,
    batch_id: str,
    endpoint: str,
    options: ValidationOptions,
    store_lines: Callable[[list[BatchLine]], Awaitable[None]],
    keep_alive: Callable[[], Awaitable[None]],
) -> InputCheck:
    """Stream the input through the validator and the splitter; store request rows as long as
    no error was found (the caller removes them again when the input turns out invalid)."""
    validator = validator_for("batch", "input.jsonl", options)
    splitter = LineSplitter(batch_id, endpoint, options.max_line_bytes, options.max_issues)

    def feed(data: bytes) -> list[BatchLine]:
        if not validator.done:
            validator.feed(data)
        return splitter.feed(data)

    pending: list[bytes] = []
    size = 0
    waiting: list[BatchLine] = []
    stored = [0]

    async def hand_over(data: bytes | None) -> None:
        if data is None:
            lines = await anyio.to_thread.run_sync(splitter.finish)
        else:
            lines = await anyio.to_thread.run_sync(feed, data)
        waiting.extend(lines)
        if len(waiting) >= ROWS_PER_INSERT or data is None:
            if splitter.error_count == 0 and validator.report.error_count == 0:
                await store_lines(waiting)
                stored[0] += len(waiting)
            waiting.clear()
            await keep_alive()

    stream = blobs.read(blob_key)
    try:
        async for chunk in stream:
            pending.append(chunk)
            size += len(chunk)
            if size >= FEED_BYTES:
                await hand_over(b"".join(pending))
                pending, size = [], 0
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()
    if pending:
        await hand_over(b"".join(pending))
    await hand_over(None)
    report = await anyio.to_thread.run_sync(validator.finish)
    errors = [
        {"code": i.code, "message": i.message, "param": i.path, "line": i.line}
        for i in report.errors
    ]
    errors.extend(splitter.errors)
    errors.sort(key=lambda e: (e["line"] is None, e["line"] or 0))
    model = report.stats.get("model")
    return InputCheck(
        requests=int(report.stats.get("requests", 0)),
        stored=stored[0],
        model=model if isinstance(model, str) else None,
        model_line=splitter.first_model_line or 1,
        errors=errors[: options.max_issues],
    )


def errors_json(errors: list[dict[str, Any]]) -> str:
    return json.dumps(errors, separators=(",", ":"))
