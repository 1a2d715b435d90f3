"""`filedock batch ...` against a live server running batches on the stub engine (a stub: it lets
the test hold requests in flight and script errors); one real subprocess on a pseudo-terminal for
the rich progress bar."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from filedock.cli import main
from tests.batches.conftest import jsonl, request_line
from tests.batches.stub_engine import Received, Reply, StubEngine
from tests.helpers import TEST_KEY, ServerProcess, batch_server

pytestmark = pytest.mark.live


def bad_request_for_m3(request: Received, seen: int) -> Reply:
    """Line m3 gets a 400 from the engine (not retried: it goes to the error file)."""
    if request.marker == "m3":
        return Reply(status=400, body={"error": {"message": "bad m3", "type": "invalid"}})
    return Reply()


@pytest.fixture(scope="module")
def stub() -> Iterator[StubEngine]:
    engine = StubEngine(script=bad_request_for_m3).start()
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def server(stub: StubEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with batch_server(
        tmp_path_factory.mktemp("cli-batch") / "data",
        stub.url,
        FILEDOCK_BATCH_CANCEL_GRACE_SECONDS="0.5",
    ) as s:
        yield s


def run(server: ServerProcess, *args: str) -> Result:
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": TEST_KEY}
    return CliRunner().invoke(main, ["batch", *args], env=env)


def write_lines(path: Path, n: int) -> Path:
    path.write_bytes(jsonl([request_line(f"m{i}") for i in range(n)]))
    return path


def test_create_wait_downloads_results_and_shows_progress(
    server: ServerProcess, tmp_path: Path
) -> None:
    src = write_lines(tmp_path / "in.jsonl", 6)
    out = tmp_path / "results"
    result = run(
        server, "create", str(src), "--endpoint", "/v1/chat/completions", "--wait",
        "-o", str(out), "--poll-interval", "0.05", "--metadata", "team=ml",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    batch_id, status, endpoint, counts, _created = result.stdout.strip().split("\t")
    assert status == "completed" and endpoint == "/v1/chat/completions"
    assert counts == "6/6 (5 completed, 1 failed)"
    # Not a terminal: plain progress lines on stderr, the last one at the final counts.
    progress = [line for line in result.stderr.splitlines() if line.startswith(batch_id)]
    assert progress[-1] == f"{batch_id}: completed 6/6 (5 completed, 1 failed)"
    assert "upload in.jsonl: 100%" in result.stderr

    output = out / f"batch_{batch_id.removeprefix('batch_')}_output.jsonl"
    errors = out / f"batch_{batch_id.removeprefix('batch_')}_error.jsonl"
    assert sorted(p.name for p in out.iterdir()) == sorted([output.name, errors.name])
    answered = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(a["custom_id"] for a in answered) == ["m0", "m1", "m2", "m4", "m5"]
    assert answered[0]["response"]["body"]["choices"][0]["message"]["content"].startswith("echo")
    (failed,) = [json.loads(line) for line in errors.read_text().splitlines()]
    assert failed["custom_id"] == "m3" and failed["response"]["status_code"] == 400

    shown = json.loads(run(server, "get", batch_id).stdout)
    assert shown["id"] == batch_id and shown["metadata"] == {"team": "ml"}
    assert shown["request_counts"] == {"total": 6, "completed": 5, "failed": 1}

    again = tmp_path / "again"
    result = run(server, "results", batch_id, "-o", str(again))
    assert result.exit_code == 0, result.output
    assert (again / output.name).read_bytes() == output.read_bytes()
    assert (again / errors.name).read_bytes() == errors.read_bytes()


def test_ls_lists_newest_first(server: ServerProcess, tmp_path: Path) -> None:
    src = write_lines(tmp_path / "ls.jsonl", 1)
    ids = [
        run(server, "create", str(src), "--endpoint", "/v1/chat/completions", "-q").stdout.strip()
        for _ in range(3)
    ]
    assert all(i.startswith("batch_") for i in ids)
    listed = run(server, "ls", "-q").stdout.split()
    assert listed[:3] == ids[::-1]
    page = json.loads(run(server, "ls", "--limit", "2", "--json").stdout)
    assert [b["id"] for b in page["data"]] == ids[:0:-1] and page["has_more"] is True
    rest = run(server, "ls", "--after", ids[1], "-q").stdout.split()
    assert rest[0] == ids[0]
    table = run(server, "ls", "--limit", "1").stdout.strip().split("\t")
    assert table[0] == ids[2] and table[2] == "/v1/chat/completions"


def test_cancel_then_wait_exits_non_zero(
    server: ServerProcess, stub: StubEngine, tmp_path: Path
) -> None:
    src = write_lines(tmp_path / "c.jsonl", 20)
    stub.hold()  # requests stay in flight: the batch cannot finish before the cancel
    try:
        batch_id = run(
            server, "create", str(src), "--endpoint", "/v1/chat/completions", "-q"
        ).stdout.strip()
        result = run(server, "cancel", batch_id, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["status"] in ("cancelling", "cancelled")
    finally:
        stub.release()
    result = run(server, "wait", batch_id, "--poll-interval", "0.05", "--json")
    assert result.exit_code == 1
    final = json.loads(result.stdout)
    assert final["status"] == "cancelled" and final["cancelled_at"] is not None
    assert f"{batch_id}: cancelled" in result.stderr


def test_invalid_input_fails_with_its_line_numbers(server: ServerProcess, tmp_path: Path) -> None:
    src = tmp_path / "dup.jsonl"
    src.write_bytes(jsonl([request_line("same"), request_line("same")]))
    result = run(
        server, "create", str(src), "--endpoint", "/v1/chat/completions", "--wait",
        "-o", str(tmp_path / "none"), "--poll-interval", "0.05",
    )  # fmt: skip
    assert result.exit_code == 1
    assert result.stdout.split("\t")[1] == "failed"
    assert "line 2: [duplicate_custom_id]" in result.stderr
    result = run(server, "results", result.stdout.split("\t")[0])
    assert result.exit_code == 1 and "has no result files yet (failed)" in result.stderr


def test_errors_and_usage(server: ServerProcess, tmp_path: Path) -> None:
    result = run(server, "get", "batch_" + "0" * 32)
    assert result.exit_code == 1 and "HTTP 404" in result.stderr
    src = write_lines(tmp_path / "u.jsonl", 1)
    result = run(server, "create", str(src), "--endpoint", "/v1/nope")
    assert result.exit_code == 2 and "Invalid value for '--endpoint'" in result.stderr
    result = run(
        server, "create", str(src), "--endpoint", "/v1/embeddings", "--metadata", "novalue"
    )
    assert result.exit_code == 2 and "is not KEY=VALUE" in result.stderr


def test_wait_draws_a_progress_bar_on_a_terminal(server: ServerProcess, tmp_path: Path) -> None:
    src = write_lines(tmp_path / "tty.jsonl", 8)
    primary, replica = pty.openpty()
    env = {
        **os.environ,
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": TEST_KEY,
        "COLUMNS": "160",
        "TERM": "xterm",
    }
    command = [
        sys.executable, "-m", "filedock", "batch", "create", str(src),
        "--endpoint", "/v1/chat/completions", "--wait", "-o", str(tmp_path / "r"),
        "--poll-interval", "0.05",
    ]  # fmt: skip
    process = subprocess.run(
        command,
        stdout=subprocess.PIPE,
        stderr=replica,
        env=env,
        timeout=120,
        check=False,
    )
    os.close(replica)
    drawn = b""
    while True:
        try:
            block = os.read(primary, 65536)
        except OSError:  # EIO: the terminal's other end is closed and drained
            break
        if not block:
            break
        drawn += block
    os.close(primary)
    assert process.returncode == 0, drawn.decode(errors="replace")
    screen = drawn.decode(errors="replace")
    batch_id = process.stdout.decode().split("\t")[0]
    assert batch_id in screen and "8/8" in screen and "1 failed" in screen
    assert "\x1b[" in screen  # drawn with terminal control sequences, not plain lines
