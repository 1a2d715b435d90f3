"""JSON Lines plumbing shared by the batch, fine-tune and evals validators.

Input edge cases, each with a defined outcome: a UTF-8 byte order mark at the start is skipped
(warning `utf8_bom`); CRLF line endings are accepted; blank lines are skipped (warning
`blank_line`); a missing final newline is accepted; bytes that are not UTF-8 make the line an
error (`invalid_encoding`, anywhere in the line, skipped fields included); a line longer than
`max_line_bytes` is an error (`line_too_long`). A file whose first line opens a JSON array or a
pretty-printed JSON document is reported once (`not_jsonl`, with how to convert it) and not read
further.

Speed: whole chunks of lines go through msgspec's `decode_lines` with a typed decoder (the fast
path). A line the fast path cannot vouch for is re-checked alone by the slow path (stdlib json for
exact messages, then generic checks), which alone decides what is wrong.
"""

from __future__ import annotations

import abc
import codecs
import json
from typing import Any

import msgspec

from filedock.validation.base import ValidationOptions, Validator
from filedock.validation.report import Report

BOM = b"\xef\xbb\xbf"
NOT_JSONL_ARRAY = (
    "the file is a JSON array, not JSON Lines (one JSON object per line); convert it with "
    "`jq -c '.[]' data.json > data.jsonl`"
)
NOT_JSONL_DOCUMENT = (
    "the file is pretty-printed JSON, not JSON Lines (one JSON object per line); convert it with "
    "`jq -c . data.json > data.jsonl`"
)


def _utf8(data: bytes | memoryview) -> bool:
    try:
        codecs.utf_8_decode(data, "strict", True)
    except UnicodeDecodeError:
        return False
    return True


def json_type(value: Any) -> str:
    """JSON's name for a Python value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class JsonlValidator(Validator):
    """Splits chunks into lines, decodes each as a JSON object and hands it to the subclass."""

    # msgspec checks the UTF-8 of the strings it decodes, not of the values it skips: a
    # subclass whose fast decoder skips values (batch bodies) has each region checked first.
    skips_values = False

    def __init__(self, options: ValidationOptions | None = None) -> None:
        super().__init__(options)
        self._pending = b""
        self._started = False
        self._skipping = False  # inside an over-long line: drop bytes until its newline
        self.lines = 0  # physical lines consumed so far
        self.records = 0  # non-blank lines
        self.invalid_records = 0  # non-blank lines with at least one error
        self.abandoned = False  # not JSONL at all: reported once, the rest is not read

    # subclass hooks ------------------------------------------------------------------------
    def fast_decoder(self) -> msgspec.json.Decoder[Any] | None:
        """A typed decoder for records the fast path can check, or None (slow path only)."""
        return None

    def check_fast(self, record: Any, line: int) -> bool:
        """Check a typed record; False sends the line to the slow path (which must agree)."""
        return False

    @abc.abstractmethod
    def check_record(self, value: Any, line: int) -> None:
        """Check one decoded JSON value (authoritative; reports errors itself)."""

    def after_region(self) -> None:
        """Called after each batch of lines (e.g. to flush token counting)."""

    @abc.abstractmethod
    def finish_checks(self) -> None:
        """Whole-file rules (counts, empty file)."""

    def check_fast_many(self, records: list[Any], first_line: int) -> bool:
        """Check a whole batch of typed records at once; False re-checks them one by one."""
        return False

    # feeding -------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        self.bytes_seen += len(chunk)
        if self.abandoned:
            return
        if not self._started:
            data = self._pending + chunk
            if len(data) < len(BOM) and BOM.startswith(data):
                self._pending = data  # too short to tell yet
                return
            self._started = True
            self._pending = b""
            if data.startswith(BOM):
                data = data[len(BOM) :]
                self.report.warning(
                    "utf8_bom", "the file starts with a UTF-8 byte order mark; it was ignored", 1
                )
            chunk = data
        cut = chunk.rfind(b"\n")
        if cut < 0:
            if not self._skipping:
                self._pending += chunk
            self._check_overflow()
            return
        # Lines are handed on as slices of `chunk` (no copies of the bulk of the data); only the
        # line straddling the previous chunk is joined.
        begin = 0
        if self._pending or self._skipping:
            first = chunk.find(b"\n")
            if self._skipping:
                self._skipping = False
                self.lines += 1
            else:
                joined = self._pending + chunk[:first]
                self._region(joined, 0, len(joined))
            self._pending = b""
            begin = first + 1
        if begin <= cut:
            self._region(chunk, begin, cut)
        self._pending = chunk[cut + 1 :]
        self.after_region()
        self._check_overflow()

    def _check_overflow(self) -> None:
        if len(self._pending) > self.options.max_line_bytes:
            if not self._skipping:
                self.report.error(
                    "line_too_long",
                    f"line is longer than {self.options.max_line_bytes} bytes",
                    self.lines + 1,
                )
                self.records += 1
                self.invalid_records += 1
            self._skipping = True
            self._pending = b""

    def _region(self, buf: bytes, start: int, end: int) -> None:
        """Lines `self.lines + 1 ...` held in `buf[start:end]` (without the final newline)."""
        if self.abandoned:
            return
        count = buf.count(b"\n", start, end) + 1
        base = self.lines
        decoder = self.fast_decoder()
        view = memoryview(buf)[start:end]
        # isascii is cheap; the full UTF-8 decode runs only on non-ASCII data.
        utf8 = not self.skips_values or buf.isascii() or _utf8(view)
        if decoder is not None and utf8:
            try:
                records = decoder.decode_lines(view)
            except (
                msgspec.DecodeError,
                msgspec.ValidationError,
                UnicodeDecodeError,
                RecursionError,
            ):
                records = None
            # decode_lines skips blank lines: a count mismatch sends the lines to the slow path.
            if records is not None and len(records) == count:
                if self.check_fast_many(records, base + 1):
                    self.records += count
                    self.lines += count
                    return
                split: list[bytes] | None = None
                for i, record in enumerate(records):
                    if self.check_fast(record, base + i + 1):
                        self.records += 1
                        continue
                    if split is None:
                        split = bytes(view).split(b"\n")
                    self._slow_line(split[i], base + i + 1)
                self.lines += count
                return
        for i, raw in enumerate(bytes(view).split(b"\n")):
            if self.abandoned:
                break
            self._line(raw, base + i + 1, decoder if utf8 or _utf8(raw) else None)
        self.lines += count

    def _line(self, raw: bytes, line: int, decoder: msgspec.json.Decoder[Any] | None) -> None:
        if decoder is not None and raw.strip():
            try:
                record = decoder.decode(raw)
            except (
                msgspec.DecodeError,
                msgspec.ValidationError,
                UnicodeDecodeError,
                RecursionError,
            ):
                pass
            else:
                if self.check_fast(record, line):
                    self.records += 1
                    return
        self._slow_line(raw, line)

    def _slow_line(self, raw: bytes, line: int) -> None:
        before = self.report.error_count
        self._check_line(raw, line)
        if self.report.error_count > before:
            self.invalid_records += 1

    def _check_line(self, raw: bytes, line: int) -> None:
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw.strip():
            self.report.warning("blank_line", "blank line ignored", line)
            return
        self.records += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.report.error(
                "invalid_encoding",
                f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} "
                "of the line)",
                line,
            )
            self.bad_line(line)
            return
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            if self.records == 1 and self._not_jsonl(text, line):
                return
            self.report.error(
                "invalid_json_line", f"invalid JSON ({exc.msg} at column {exc.colno})", line
            )
            self.bad_line(line)
            return
        except RecursionError:
            self.report.error("invalid_json_line", "invalid JSON (nested too deeply)", line)
            self.bad_line(line)
            return
        if not isinstance(value, dict):
            if self.records == 1 and isinstance(value, list) and self._not_jsonl(text, line):
                return
            self.report.error(
                "invalid_json_line", f"line is a JSON {json_type(value)}, not an object", line
            )
            self.bad_line(line)
            return
        self.check_record(value, line)

    def _not_jsonl(self, text: str, line: int) -> bool:
        """The first line opens a JSON array or a pretty-printed document: say so once, stop."""
        head = text.strip()
        if head.startswith("["):
            message = NOT_JSONL_ARRAY
        elif head == "{":
            message = NOT_JSONL_DOCUMENT
        else:
            return False
        self.report.error("not_jsonl", message, line)
        self.abandoned = self.done = True
        return True

    def bad_line(self, line: int) -> None:
        """A line that is not a JSON object (already reported)."""

    def finish(self) -> Report:
        if self._pending and not self._skipping and not self.abandoned:
            pending = self._pending
            self._pending = b""
            if not self._started and pending.startswith(BOM):
                pending = pending[len(BOM) :]
                self.report.warning(
                    "utf8_bom", "the file starts with a UTF-8 byte order mark; it was ignored", 1
                )
            self._started = True
            self._region(pending, 0, len(pending))
            self.after_region()
        elif self._skipping:
            self.lines += 1
        self.report.stats["lines"] = self.lines
        if self.abandoned:
            return self.report
        self.finish_checks()
        self.report.sort()
        return self.report
