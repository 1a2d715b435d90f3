"""Rendering: JSON bodies and the OpenAI error envelope."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from filedock.errors import FiledockError


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def error_response(error: FiledockError) -> JSONResponse:
    headers = dict(error.headers)
    if error.status >= 500:
        # A fault of ours that will not go away by resending the same request.
        headers.setdefault("x-should-retry", "false")
    return JSONResponse(error.envelope(), status_code=error.status, headers=headers)
