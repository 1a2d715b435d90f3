# GENERATED from tests/client/_async/test_uploads.py by scripts/gen_sync_client.py: do not edit.
"""The client's chunked uploads through the Uploads API; tests/client/_sync/ is generated."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from filedock.client import FilesClient
from tests.helpers import TEST_KEY, ServerProcess

pytestmark = [pytest.mark.live, pytest.mark.anyio]
KiB = 1024
MiB = 1024 * KiB
SMALL = {"chunk_threshold": 256 * KiB, "part_size": 128 * KiB, "max_parallel_parts": 3}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FaultInjectingTransport(httpx.BaseTransport):
    """Test double around the real transport: records every request and makes chosen part
    uploads fail before they are sent (as a dropped connection would)."""

    def __init__(self, fail_parts: int = 0) -> None:
        self.real = httpx.HTTPTransport()
        self.fail_parts = fail_parts
        self.log: list[tuple[str, str, int]] = []
        self.bodies: dict[str, Any] = {}
        self.lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/parts"):
            with self.lock:
                fail = self.fail_parts > 0
                self.fail_parts -= 1 if fail else 0
            if fail:
                self.log.append((request.method, path, -1))
                raise httpx.ConnectError("injected failure", request=request)
        if path.endswith("/complete"):
            request.read()
            self.bodies["complete"] = json.loads(request.content)
        response = self.real.handle_request(request)
        self.log.append((request.method, path, response.status_code))
        return response

    def close(self) -> None:
        self.real.close()

    def count(self, suffix: str, status: int | None = None) -> int:
        return sum(
            1 for _, p, s in self.log if p.endswith(suffix) and (status is None or s == status)
        )


def _file(tmp_path: Path, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / "big.jsonl.bin"
    path.write_bytes(data)
    return path, data


def test_chunked_path_above_threshold_with_md5(live_server: ServerProcess, tmp_path: Path) -> None:
    path, data = _file(tmp_path, 1 * MiB + 77)
    transport = FaultInjectingTransport()
    calls: list[int] = []
    with FilesClient(live_server.base_url, TEST_KEY, transport=transport, **SMALL) as c:
        f = c.files.create(file=path, purpose="user_data", progress=lambda d, t: calls.append(d))
        assert c.files.content(f.id) == data
    assert (f.bytes, f.filename) == (len(data), path.name)
    assert transport.count("/uploads", 200) == 1
    assert transport.count("/parts", 200) == 9  # ceil((1 MiB + 77) / 128 KiB)
    assert transport.count("/files") == 0  # POST /files was not used
    assert transport.bodies["complete"]["md5"] == hashlib.md5(data).hexdigest()
    assert len(transport.bodies["complete"]["part_ids"]) == 9
    assert calls == sorted(calls) and calls[0] == 0 and calls[-1] == len(data)


def test_below_threshold_uses_post_files(live_server: ServerProcess, tmp_path: Path) -> None:
    path, data = _file(tmp_path, 100 * KiB)
    transport = FaultInjectingTransport()
    with FilesClient(live_server.base_url, TEST_KEY, transport=transport, **SMALL) as c:
        f = c.files.create(file=path, purpose="user_data")
    assert f.bytes == len(data)
    assert transport.count("/uploads") == 0 and transport.count("/files", 200) == 1


def test_failed_part_is_retried_without_restarting(
    live_server: ServerProcess, tmp_path: Path
) -> None:
    path, data = _file(tmp_path, 700 * KiB)
    transport = FaultInjectingTransport(fail_parts=1)
    calls: list[int] = []
    with FilesClient(live_server.base_url, TEST_KEY, transport=transport, **SMALL) as c:
        f = c.files.create(file=path, purpose="user_data", progress=lambda d, t: calls.append(d))
        assert c.files.content(f.id) == data
    assert transport.count("/uploads") == 1  # one Upload: the file was not restarted
    assert transport.count("/parts", -1) == 1
    assert transport.count("/parts", 200) == 6  # each of the 6 parts stored once
    assert calls == sorted(calls) and calls[-1] == len(data)


def test_permanent_failure_cancels_the_upload(live_server: ServerProcess, tmp_path: Path) -> None:
    path, _ = _file(tmp_path, 700 * KiB)
    transport = FaultInjectingTransport(fail_parts=100)
    with FilesClient(
        live_server.base_url, TEST_KEY, transport=transport, part_retries=1, **SMALL
    ) as c:
        with pytest.raises(Exception, match="injected failure"):
            c.files.create(file=path, purpose="user_data")
    assert transport.count("/cancel", 200) == 1
    assert transport.count("/complete") == 0


def test_upload_file_chunked_returns_the_completed_upload(
    live_server: ServerProcess, tmp_path: Path
) -> None:
    path, data = _file(tmp_path, 300 * KiB + 1)
    with FilesClient(live_server.base_url, TEST_KEY, **SMALL) as c:
        upload = c.uploads.upload_file_chunked(file=path, purpose="user_data")
        assert upload.status == "completed" and upload.file is not None
        assert c.files.content(upload.file.id) == data
