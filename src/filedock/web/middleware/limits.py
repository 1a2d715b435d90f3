"""Rate-limit answers: the `x-ratelimit-*` headers and the 429 error of a denied request."""

from __future__ import annotations

import math

from filedock.errors import RateLimited
from filedock.services.ratelimit import Allowance, Decision, format_duration

# POST to these paths also takes from the key's uploads-per-minute bucket.
UPLOAD_PATHS = ("/v1/files", "/v1/uploads")

_NAMES = {
    kind: tuple(f"x-ratelimit-{what}-{kind}".encode() for what in ("limit", "remaining", "reset"))
    for kind in ("requests", "uploads")
}


def _headers(kind: str, allowance: Allowance | None) -> list[tuple[bytes, bytes]]:
    if allowance is None:
        return []
    limit, remaining, reset = _NAMES[kind]
    return [
        (limit, b"%d" % allowance.limit),
        (remaining, b"%d" % allowance.remaining),
        (reset, format_duration(allowance.reset_seconds).encode()),
    ]


def limit_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    """The `x-ratelimit-*` headers of every authenticated /v1 response."""
    return _headers("requests", decision.requests) + _headers("uploads", decision.uploads)


def rate_limited(decision: Decision) -> RateLimited:
    """The 429 for a denied decision, with Retry-After and retry-after-ms."""
    kind = decision.denied_by or "requests"
    allowance = decision.uploads if kind == "uploads" else decision.requests
    assert allowance is not None
    wait = allowance.retry_after
    label = "requests per min (RPM)" if kind == "requests" else "uploads per min"
    return RateLimited(
        f"Rate limit reached for {label}: Limit {allowance.limit}, Used {allowance.limit}, "
        f"Requested 1. Please try again in {format_duration(wait)}.",
        headers={
            "Retry-After": str(max(1, math.ceil(wait))),
            "retry-after-ms": str(max(1, math.ceil(wait * 1000))),
        },
    )
