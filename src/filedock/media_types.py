"""Media types by file name, one rule for the client's uploads and the server's downloads."""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping


def media_type(filename: str, extra: Mapping[str, str]) -> str:
    """`extra`'s type for the name's extension if it has one, else the system table's guess."""
    lowered = filename.lower()
    for extension, mime in extra.items():
        if lowered.endswith(extension):
            return mime
    guessed, _ = mimetypes.guess_type(filename, strict=False)
    return guessed or "application/octet-stream"
