"""HTTP Range requests (RFC 9110): one byte range, or the whole file."""

from __future__ import annotations

import re

from filedock.errors import RangeNotSatisfiable

_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) for a single satisfiable range; None to send the whole file.

    Malformed and multi-range headers are ignored (the whole file is sent), as RFC 9110 allows.
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
