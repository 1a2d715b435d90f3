"""Vision images: a real decode with Pillow; PNG, JPEG, WEBP and non-animated GIF only.

Pillow needs a seekable file, so chunks go to a spooled temporary buffer: memory up to
SPOOL_BYTES, then a private temporary file (scratch space, not storage).
"""

from __future__ import annotations

import tempfile

from filedock.validation.base import ValidationOptions, Validator
from filedock.validation.report import Report

FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp", "GIF": "gif"}
SPOOL_BYTES = 8 * 1024 * 1024


class VisionValidator(Validator):
    """Codes: empty_file, unsupported_image_format, invalid_image, animated_image,
    image_too_large."""

    purpose = "vision"

    def __init__(self, options: ValidationOptions | None = None) -> None:
        super().__init__(options)
        self._spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115

    def feed(self, chunk: bytes) -> None:
        self.bytes_seen += len(chunk)
        self._spool.write(chunk)

    def finish(self) -> Report:
        try:
            self._check()
        finally:
            self._spool.close()
        return self.report

    def _check(self) -> None:
        # Imported here, not at the top: a server start must not pay for Pillow (about 30 ms).
        from PIL import Image, UnidentifiedImageError

        report = self.report
        if self.bytes_seen == 0:
            report.error("empty_file", "the file is empty")
            return
        try:
            self._spool.seek(0)
            with Image.open(self._spool) as image:
                kind = image.format or "unknown"
                report.stats.update(
                    {
                        "format": FORMATS.get(kind, kind.lower()),
                        "width": image.width,
                        "height": image.height,
                    }
                )
                report.format = FORMATS.get(kind)
                if kind not in FORMATS:
                    report.error(
                        "unsupported_image_format",
                        f"{kind} images are not supported; use PNG, JPEG, WEBP or GIF",
                    )
                    return
                frames = getattr(image, "n_frames", 1)
                if kind == "GIF" and frames > 1:
                    report.error(
                        "animated_image", f"animated GIFs are not supported ({frames} frames)"
                    )
                    return
                limit = Image.MAX_IMAGE_PIXELS
                if limit and image.width * image.height > limit:
                    report.error(
                        "image_too_large",
                        f"the image has {image.width * image.height} pixels; at most {limit}",
                    )
                    return
                image.verify()
            # verify() does not decode pixels for every format: decode too, shrunk where the
            # codec allows it (JPEG draft mode), to catch truncated data.
            self._spool.seek(0)
            with Image.open(self._spool) as image:
                if kind == "JPEG":
                    image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
                image.load()
        except Image.DecompressionBombError as exc:
            report.error("image_too_large", f"the image is too large to process ({exc})")
        except UnidentifiedImageError:
            report.error(
                "invalid_image", "not a readable image (use PNG, JPEG, WEBP or non-animated GIF)"
            )
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            report.error("invalid_image", f"the image is corrupt or truncated ({exc})")
