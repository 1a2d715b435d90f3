"""What differs between the two clients (Ctrl-C, task cancellation, pipes) and the CLI on top.

Everything they share is tested once in tests/client/_async/ and its generated twin _sync/.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from filedock.cli import main
from filedock.client import AsyncFilesClient, FilesClient
from tests.client._async.test_uploads import (
    FaultInjectingTransport as AsyncFaultInjectingTransport,
)
from tests.client._sync.test_uploads import SMALL, FaultInjectingTransport, KiB, MiB, _file
from tests.helpers import TEST_KEY, ServerProcess

pytestmark = pytest.mark.live
ROOT = Path(__file__).resolve().parent.parent.parent


@pytest.fixture
def client(live_server: ServerProcess) -> object:
    with FilesClient(live_server.base_url, TEST_KEY) as c:
        yield c


def test_generated_sync_client_is_fresh() -> None:
    """The sync client and its tests are generated from the async source: never edited apart."""
    done = subprocess.run(
        [sys.executable, "scripts/gen_sync_client.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_a_build_generates_the_sync_client(tmp_path: Path) -> None:
    """The sync client is a build product: setup.py's build_py, in a tree without it, writes
    what the generator does."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("setup.py", "pyproject.toml", "README.md", "scripts/gen_sync_client.py"):
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / name, tree / name)
    generated = [Path("filedock/client/_sync", name) for name in ("client.py", "files.py")]
    for module in generated:
        (tree / "src" / module).unlink(missing_ok=True)
    done = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_py", "--build-lib", str(tmp_path / "lib")],
        cwd=tree,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    for module in generated:
        built = (tmp_path / "lib" / module).read_text()
        assert built == (ROOT / "src" / module).read_text()


def test_unknown_size_stream_is_sent_chunked(client: FilesClient) -> None:
    """A pipe has no size: the body goes out with chunked transfer encoding, still streamed."""
    read_fd, write_fd = os.pipe()
    payload = os.urandom(2 * MiB + 5)

    def feed() -> None:
        with os.fdopen(write_fd, "wb") as w:
            w.write(payload)

    writer = threading.Thread(target=feed)
    writer.start()
    calls: list[tuple[int, int | None]] = []
    with os.fdopen(read_fd, "rb") as pipe:
        f = client.files.create(
            file=("piped.bin", pipe),
            purpose="user_data",
            progress=lambda d, t: calls.append((d, t)),
        )
    writer.join()
    assert f.bytes == len(payload)
    assert client.files.content(f.id) == payload
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and calls[-1][0] == len(payload)


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


def test_async_cancel_cancels_the_pending_upload(
    live_server: ServerProcess, tmp_path: Path
) -> None:
    """Cancelling the task mid-upload cancels the Upload on the server and propagates."""
    path, _ = _file(tmp_path, 1 * MiB)
    transport = AsyncFaultInjectingTransport()

    async def run() -> None:
        started = asyncio.Event()

        def progress(done: int, total: int | None) -> None:
            if done > 200 * KiB:
                started.set()

        async with AsyncFilesClient(
            live_server.base_url, TEST_KEY, transport=transport, **SMALL
        ) as c:
            task = asyncio.create_task(
                c.files.create(file=path, purpose="user_data", progress=progress)
            )
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(run())
    assert transport.count("/cancel", 200) == 1
    assert transport.count("/complete") == 0


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
