"""Image checks shared by `vision` uploads and images inside fine-tuning examples.

One image is looked at at a time: a data URL is base64-decoded, opened with Pillow, checked and
dropped before the next one. Pixels are decoded (JPEG at 1/8 scale) to catch truncated data.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass
from typing import IO
from urllib.parse import urlsplit

# Pillow format name -> our name. Fine-tuning data takes JPEG, PNG and WEBP; `vision` uploads
# also take (non-animated) GIF.
FINE_TUNE_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
VISION_FORMATS = {**FINE_TUNE_FORMATS, "GIF": "gif"}
# OpenAI asks for RGB or RGBA images; CMYK is refused, other modes (grey, palette) are converted
# by most pipelines but are outside the documented set (a warning).
GOOD_MODES = ("RGB", "RGBA")
BAD_MODES = ("CMYK",)
DETAILS = ("auto", "low", "high")
_WHITESPACE = b" \t\r\n"


class ImageProblem(Exception):
    """An image that OpenAI would refuse: a code and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ImageFacts:
    """What Pillow read from an image that passed."""

    format: str
    width: int
    height: int
    mode: str
    bytes: int


def inspect_image(
    source: IO[bytes], size: int, *, formats: dict[str, str], max_bytes: int
) -> ImageFacts:
    """Open, check and decode one image; raise ImageProblem when OpenAI would refuse it."""
    # Imported on first use: a server start must not pay for Pillow (about 30 ms).
    from PIL import Image, UnidentifiedImageError

    if size == 0:
        raise ImageProblem("invalid_image", "the image is empty")
    if size > max_bytes:
        raise ImageProblem("image_too_large", f"the image is larger than {max_bytes} bytes")
    allowed = ", ".join(n.upper() for n in formats.values())
    try:
        with Image.open(source) as image:
            kind = image.format or "unknown"
            if kind not in formats:
                raise ImageProblem(
                    "unsupported_image_format", f"{kind} images are not supported; use {allowed}"
                )
            frames = getattr(image, "n_frames", 1)
            if frames > 1:
                raise ImageProblem(
                    "animated_image", f"animated images are not supported ({frames} frames)"
                )
            if image.mode in BAD_MODES:
                raise ImageProblem(
                    "invalid_image_mode",
                    f"the image is in {image.mode} mode; convert it to RGB or RGBA",
                )
            limit = Image.MAX_IMAGE_PIXELS
            if limit and image.width * image.height > limit:
                raise ImageProblem(
                    "image_too_large",
                    f"the image has {image.width * image.height} pixels; at most {limit}",
                )
            facts = ImageFacts(formats[kind], image.width, image.height, image.mode, size)
            image.verify()
        # verify() does not decode pixels for every format: decode too, shrunk where the codec
        # allows it (JPEG draft mode), to catch truncated data.
        source.seek(0)
        with Image.open(source) as image:
            if kind == "JPEG":
                image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
            image.load()
    except ImageProblem:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageProblem("image_too_large", f"the image is too large to process ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise ImageProblem("invalid_image", f"not a readable image (use {allowed})") from exc
    except MemoryError:
        raise
    except Exception as exc:  # Pillow's decoders raise many types on hostile input
        raise ImageProblem("invalid_image", f"the image is corrupt or truncated ({exc})") from exc
    return facts


def mode_warning(facts: ImageFacts) -> str | None:
    """A message when the image's mode is outside RGB/RGBA (palette GIFs excepted)."""
    if facts.mode in GOOD_MODES or (facts.format == "gif" and facts.mode == "P"):
        return None
    return f"the image is in {facts.mode} mode; OpenAI asks for RGB or RGBA images"


def check_image_url(url: str, *, max_bytes: int) -> ImageFacts | None:
    """Check an `image_url.url` of a fine-tuning example: an http(s) URL (not fetched) or a
    base64 data URL of a JPEG, PNG or WEBP image. Returns the facts of a data-URL image."""
    if url.startswith("data:"):
        header, comma, data = url.partition(",")
        media = header[5:].split(";")
        if not comma or "base64" not in media[1:]:
            raise ImageProblem(
                "invalid_image_url",
                "a data URL must look like data:image/png;base64,<data>",
            )
        if not media[0].startswith("image/"):
            raise ImageProblem(
                "invalid_image_url",
                f"the data URL holds {media[0] or 'text/plain'}, not an image",
            )
        raw = data.encode("ascii", "replace").translate(None, _WHITESPACE)
        try:
            blob = base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ImageProblem(
                "invalid_image_data", f"the data URL's base64 does not decode ({exc})"
            ) from exc
        size = len(blob)
        return inspect_image(io.BytesIO(blob), size, formats=FINE_TUNE_FORMATS, max_bytes=max_bytes)
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        shown = url if len(url) <= 60 else url[:57] + "..."
        raise ImageProblem(
            "invalid_image_url",
            f"{shown!r} is not an http(s) URL nor a base64 data URL",
        )
    return None
