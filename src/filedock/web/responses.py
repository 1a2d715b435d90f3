"""Rendering: JSON bodies and the OpenAI error envelope."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.responses import Response

from filedock.errors import FiledockError

_encoder = msgspec.json.Encoder()


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        # msgspec keeps dict key order (the File object's order matters) and is several times
        # faster than json.dumps on a 100-file listing.
        return _encoder.encode(content)


def error_response(error: FiledockError) -> JSONResponse:
    headers = dict(error.headers)
    if error.status >= 500:
        # A fault of ours that will not go away by resending the same request.
        headers.setdefault("x-should-retry", "false")
    return JSONResponse(error.envelope(), status_code=error.status, headers=headers)
