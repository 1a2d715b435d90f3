"""Assistants files: supported extensions, text encodings, and a token budget (o200k_base).

Text is tokenized in pieces as it streams in and counting stops as soon as the limit is passed,
so a huge file is rejected after reading only its first few megabytes. Pieces are cut after a
newline, so counts match whole-text tokenization except at rare boundary merges.
PDF, DOCX and PPTX need a seekable file, so their bytes go to a spooled temporary buffer
(memory up to SPOOL_BYTES, then a private temporary file) and text is extracted page by page.
"""

from __future__ import annotations

import codecs
import os.path
import tempfile
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import IO, Any

from filedock.validation.base import ValidationOptions, Validator
from filedock.validation.report import Report
from filedock.validation.tokens import encoding

TEXT_EXTENSIONS = frozenset(
    [
        ".c",
        ".cpp",
        ".cs",
        ".css",
        ".go",
        ".html",
        ".java",
        ".js",
        ".json",
        ".md",
        ".php",
        ".py",
        ".rb",
        ".sh",
        ".tex",
        ".ts",
        ".txt",
        ".csv",
        ".xml",
    ]
)
DOCUMENT_EXTENSIONS = frozenset({".pdf", ".docx", ".pptx"})
# Accepted without a content check: binary formats we do not extract (legacy .doc, images,
# archives, spreadsheets: code-interpreter inputs).
OPAQUE_EXTENSIONS = frozenset([".doc", ".jpeg", ".jpg", ".gif", ".png", ".tar", ".xlsx", ".zip"])
SUPPORTED_EXTENSIONS = TEXT_EXTENSIONS | DOCUMENT_EXTENSIONS | OPAQUE_EXTENSIONS
SPOOL_BYTES = 8 * 1024 * 1024
PIECE_CHARS = 256 * 1024


class _HtmlText(HTMLParser):
    """Collects the visible text of an HTML document (script and style skipped)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


class AssistantsValidator(Validator):
    """Codes: unsupported_file_type, invalid_encoding, too_many_tokens, unreadable_document."""

    purpose = "assistants"

    def __init__(self, filename: str, options: ValidationOptions | None = None) -> None:
        super().__init__(options)
        self.extension = os.path.splitext(filename)[1].lower()
        self.report.format = self.extension.lstrip(".") or None
        self._tokens = 0
        self._text = ""  # text not yet tokenized
        self._decoder: codecs.IncrementalDecoder | None = None
        self._head = b""
        self._html = _HtmlText() if self.extension == ".html" else None
        self._spool: IO[bytes] | None = None
        if self.extension not in SUPPORTED_EXTENSIONS:
            self.report.error(
                "unsupported_file_type",
                f"files of type '{self.extension or '(no extension)'}' are not supported for "
                f"assistants; supported: {' '.join(sorted(SUPPORTED_EXTENSIONS))}",
            )
            self.done = True
        elif self.extension in DOCUMENT_EXTENSIONS:
            self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115

    # feeding -------------------------------------------------------------------------------
    def feed(self, chunk: bytes) -> None:
        self.bytes_seen += len(chunk)
        if self.done:
            return
        if self._spool is not None:
            self._spool.write(chunk)
        elif self.extension in TEXT_EXTENSIONS:
            self._feed_text(chunk, final=False)

    def _feed_text(self, chunk: bytes, *, final: bool) -> None:
        if self._decoder is None:
            self._head += chunk
            if len(self._head) < 4 and not final:
                return
            chunk, self._head = self._head, b""
            self._decoder = _decoder_for(chunk)
        try:
            text = self._decoder.decode(chunk, final)
        except UnicodeDecodeError as exc:
            self.report.error(
                "invalid_encoding",
                f"the text is not valid UTF-8, UTF-16 or ASCII ({exc.reason} near byte "
                f"{self.bytes_seen - len(chunk) + exc.start + 1})",
            )
            self.done = True
            return
        if self._html is not None:
            self._html.feed(text)
            if final:
                self._html.close()
            text = "".join(self._html.parts)
            self._html.parts.clear()
        self._add_text(text, final=final)

    def _add_text(self, text: str, *, final: bool) -> None:
        self._text += text
        while len(self._text) >= PIECE_CHARS and not self.done:
            cut = self._text.rfind("\n", 0, PIECE_CHARS) + 1 or PIECE_CHARS
            self._count(self._text[:cut])
            self._text = self._text[cut:]
        if final and self._text and not self.done:
            self._count(self._text)
            self._text = ""

    def _count(self, piece: str) -> None:
        self._tokens += len(encoding("o200k_base").encode_ordinary(piece))
        limit = self.options.assistants_max_tokens
        if self._tokens > limit:
            self.report.error(
                "too_many_tokens",
                f"the file has more than {limit} tokens (counting stopped at {self._tokens})",
            )
            self.done = True

    # documents -----------------------------------------------------------------------------
    def _document_text(self, source: IO[bytes]) -> Iterator[str]:
        if self.extension == ".pdf":
            from pypdf import PdfReader

            for page in PdfReader(source).pages:
                text = page.extract_text()
                if text:
                    yield text + "\n"
        elif self.extension == ".docx":
            import docx

            document: Any = docx.Document(source)
            for paragraph in document.paragraphs:
                yield paragraph.text + "\n"
            for table in document.tables:
                for row in table.rows:
                    yield "\t".join(cell.text for cell in row.cells) + "\n"
        else:
            import pptx

            presentation: Any = pptx.Presentation(source)
            for slide in presentation.slides:
                for shape in slide.shapes:
                    if shape.has_text_frame:
                        yield shape.text_frame.text + "\n"

    def _extract(self, source: IO[bytes]) -> None:
        try:
            for text in self._document_text(source):
                self._add_text(text, final=False)
                if self.done:
                    return
        except Exception as exc:  # the parsers raise many types on malformed input
            if isinstance(exc, MemoryError):
                raise
            kind = self.extension.lstrip(".").upper()
            self.report.error(
                "unreadable_document",
                f"the {kind} file cannot be read ({type(exc).__name__}: {str(exc)[:200]})",
            )
            self.done = True
            return
        self._add_text("", final=True)

    def finish(self) -> Report:
        try:
            if not self.done:
                if self._spool is not None:
                    self._spool.seek(0)
                    if self.extension != ".pdf" and not zipfile.is_zipfile(self._spool):
                        kind = self.extension.lstrip(".").upper()
                        self.report.error(
                            "unreadable_document", f"the {kind} file is not a valid document"
                        )
                    else:
                        self._spool.seek(0)
                        self._extract(self._spool)
                elif self.extension in TEXT_EXTENSIONS:
                    self._feed_text(b"", final=True)
        finally:
            if self._spool is not None:
                self._spool.close()
        self.report.stats["bytes"] = self.bytes_seen
        if self.extension in TEXT_EXTENSIONS or self.extension in DOCUMENT_EXTENSIONS:
            self.report.stats["tokens"] = self._tokens
        return self.report


def _decoder_for(head: bytes) -> codecs.IncrementalDecoder:
    """UTF-16 when a byte order mark says so; otherwise strict UTF-8 (which includes ASCII)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return codecs.getincrementaldecoder("utf-16")("strict")
    return codecs.getincrementaldecoder("utf-8-sig")("strict")
