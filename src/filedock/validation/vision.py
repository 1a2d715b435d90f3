"""Vision images: a real decode with Pillow; PNG, JPEG, WEBP and non-animated GIF only.

Pillow needs a seekable file, so chunks go to a spooled temporary buffer: memory up to
SPOOL_BYTES, then a private temporary file (scratch space, not storage).
"""

from __future__ import annotations

import tempfile

from filedock.validation.base import ValidationOptions, Validator
from filedock.validation.images import VISION_FORMATS, ImageProblem, inspect_image, mode_warning
from filedock.validation.report import Report

SPOOL_BYTES = 8 * 1024 * 1024


class VisionValidator(Validator):
    """Codes: empty_file, unsupported_image_format, invalid_image, animated_image,
    invalid_image_mode, image_too_large; warning image_mode."""

    purpose = "vision"

    def __init__(self, options: ValidationOptions | None = None) -> None:
        super().__init__(options)
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115

    def feed(self, chunk: bytes) -> None:
        self.bytes_seen += len(chunk)
        if self.bytes_seen > self.options.image_max_bytes:
            self.done = True  # too large whatever follows: stop spooling
            return
        self._spool.write(chunk)

    def finish(self) -> Report:
        try:
            self._check()
        finally:
            self._spool.close()
        return self.report

    def _check(self) -> None:
        report = self.report
        if self.bytes_seen == 0:
            report.error("empty_file", "the file is empty")
            return
        self._spool.seek(0)
        try:
            facts = inspect_image(
                self._spool,
                self.bytes_seen,
                formats=VISION_FORMATS,
                max_bytes=self.options.image_max_bytes,
            )
        except ImageProblem as problem:
            report.error(problem.code, problem.message)
            return
        report.format = facts.format
        report.stats.update({"format": facts.format, "width": facts.width, "height": facts.height})
        warning = mode_warning(facts)
        if warning:
            report.warning("image_mode", warning)
