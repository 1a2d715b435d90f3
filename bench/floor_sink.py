"""The floor for upload throughput: the same ASGI server, a streaming multipart parse, a disk write.

Nothing else: no auth, no hashing, no database. Run as `uvicorn bench.floor_sink:app` (the benchmark
starts it with the same server options as `filedock serve`).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

SINK_DIR = os.environ.get("FLOOR_SINK_DIR", tempfile.gettempdir())


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    headers = dict(scope["headers"])
    _, options = parse_options_header(headers.get(b"content-type", b""))
    if b"boundary" not in options:  # the readiness probe
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ready"})
        return
    path = os.path.join(SINK_DIR, "floor-upload.bin")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    state = {"in_file": False}

    def on_headers_finished() -> None:
        state["in_file"] = True

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state["in_file"]:
            os.write(fd, data[start:end])

    parser = MultipartParser(
        options[b"boundary"],
        {"on_headers_finished": on_headers_finished, "on_part_data": on_part_data},
    )
    more = True
    while more:
        message = await receive()
        parser.write(message.get("body", b""))
        more = message.get("more_body", False)
    os.fsync(fd)
    os.close(fd)
    os.unlink(path)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"ok"})
