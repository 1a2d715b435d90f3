"""Chunked uploads through the server's Uploads API (POST /v1/uploads, parts, complete, cancel).

These need the server side of the Uploads API, which lands from another branch: on a server
without it they fail (by design: nothing here is skipped).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from filedock.cli import main
from filedock.client import AsyncFilesClient, FilesClient
from tests.helpers import TEST_KEY, ServerProcess

pytestmark = pytest.mark.live
KiB = 1024
MiB = 1024 * KiB
SMALL = {"chunk_threshold": 256 * KiB, "part_size": 128 * KiB, "max_parallel_parts": 3}


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

    def count(self, suffix: str, status: int | None = None) -> int:
        return sum(
            1 for _, p, s in self.log if p.endswith(suffix) and (status is None or s == status)
        )

    def close(self) -> None:
        self.real.close()


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
    with (
        FilesClient(
            live_server.base_url, TEST_KEY, transport=transport, part_retries=1, **SMALL
        ) as c,
        pytest.raises(Exception, match="injected failure"),
    ):
        c.files.create(file=path, purpose="user_data")
    assert transport.count("/cancel", 200) == 1
    assert transport.count("/complete") == 0


def test_interrupt_cancels_the_pending_upload(live_server: ServerProcess, tmp_path: Path) -> None:
    """Ctrl-C (KeyboardInterrupt) mid-upload cancels the Upload and propagates."""
    path, _ = _file(tmp_path, 1 * MiB)
    transport = FaultInjectingTransport()

    def interrupt(done: int, total: int | None) -> None:
        if done > 200 * KiB:
            raise KeyboardInterrupt

    with (
        FilesClient(live_server.base_url, TEST_KEY, transport=transport, **SMALL) as c,
        pytest.raises(KeyboardInterrupt),
    ):
        c.files.create(file=path, purpose="user_data", progress=interrupt)
    assert transport.count("/cancel", 200) == 1
    assert transport.count("/complete") == 0


def test_async_chunked_upload(live_server: ServerProcess, tmp_path: Path) -> None:
    path, data = _file(tmp_path, 900 * KiB + 3)

    async def main() -> tuple[Any, bytes, list[int]]:
        calls: list[int] = []
        async with AsyncFilesClient(live_server.base_url, TEST_KEY, **SMALL) as c:
            f = await c.files.create(
                file=path, purpose="user_data", progress=lambda d, t: calls.append(d)
            )
            return f, await c.files.content(f.id), calls

    f, got, calls = asyncio.run(main())
    assert got == data and f.bytes == len(data)
    assert calls == sorted(calls) and calls[-1] == len(data)


def test_cli_chunked_upload_of_a_multi_part_file(
    live_server: ServerProcess, tmp_path: Path
) -> None:
    path, data = _file(tmp_path, 1 * MiB + 5)
    env = {"OPENAI_BASE_URL": live_server.base_url, "OPENAI_API_KEY": TEST_KEY}
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "upload",
            str(path),
            "--purpose",
            "user_data",
            "--chunk-threshold",
            "256KiB",
            "--part-size",
            "128KiB",
            "--parallel",
            "3",
            "--wait",
            "--json",
        ],
        env=env,
    )
    assert result.exit_code == 0, result.output
    f = json.loads(result.stdout.strip())
    assert f["bytes"] == len(data) and f["status"] in ("processed", "error")
    out = tmp_path / "back.bin"
    result = runner.invoke(main, ["get", f["id"], "-o", str(out), "-q"], env=env)
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == data
