"""Reading the request headers of RFC 9110 for a stored blob: Range, If-None-Match, If-Range."""

from __future__ import annotations

import re

from filedock.errors import RangeNotSatisfiable

_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) for a single satisfiable range; None to send the whole file.

    Malformed and multi-range headers are ignored (the whole file is sent), as RFC 9110 allows.
    Raises RangeNotSatisfiable (416, with `Content-Range: bytes */size`) for a range past the end.
    """
    if not header:
        return None
    match = _RANGE.fullmatch(header)
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if first:
        start = int(first)
        end = min(int(last) + 1, size) if last else size
        if last and int(last) < start:
            return None
    else:
        start, end = max(size - int(last), 0), size
        if int(last) == 0:
            start = size
    if start >= size or start >= end:
        raise RangeNotSatisfiable(
            f"Range not satisfiable: the file has {size} bytes.",
            param="range",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def none_match(if_none_match: str, etag: str) -> bool:
    """Whether `If-None-Match` names `etag` (weak comparison, `*` matches): answer 304."""
    if if_none_match.strip() == "*":
        return True
    return any(_opaque(tag) == etag for tag in if_none_match.split(","))


def range_still_valid(if_range: str, etag: str) -> bool:
    """Whether a Range may be served under `If-Range` (strong comparison with our ETag).

    A weak tag or an HTTP date never matches (no Last-Modified is sent): the whole file is sent.
    """
    return if_range.strip() == etag
