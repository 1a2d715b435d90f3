"""The client commands of `filedock` against a live server (in-process click runner, plus one
real subprocess for exit codes and stream separation)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from filedock.cli import main
from filedock.cli.remote import render_report
from tests.helpers import TEST_KEY, ServerProcess

pytestmark = pytest.mark.live


def _run(server: ServerProcess, *args: str, key: str = TEST_KEY) -> Result:
    env = {"OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": key}
    return CliRunner().invoke(main, list(args), env=env)


def test_upload_wait_ls_get_info_rm(live_server: ServerProcess, tmp_path: Path) -> None:
    data = os.urandom(1024 * 1024 + 3)
    a = tmp_path / "a.bin"
    a.write_bytes(data)
    b = tmp_path / "b.txt"
    b.write_bytes(b"hello\n")

    result = _run(live_server, "upload", str(a), str(b), "--purpose", "user_data", "--wait")
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    ids = [r[0] for r in rows]
    assert len(ids) == 2 and all(i.startswith("file-") for i in ids)
    assert rows[0][1:] == ["user_data", str(len(data)), "processed", "a.bin"]
    # Not a terminal: plain progress lines on stderr, ending at the size.
    assert f"upload a.bin: 100% {len(data)}/{len(data)} bytes" in result.stderr
    quiet = _run(live_server, "upload", str(b), "--purpose", "user_data", "-q")
    assert quiet.stdout.strip().startswith("file-") and quiet.stderr == ""
    assert _run(live_server, "rm", quiet.stdout.strip()).exit_code == 0

    result = _run(live_server, "ls", "--purpose", "user_data", "--json", "--order", "asc")
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    assert listing["object"] == "list" and listing["has_more"] is False
    by_id = {f["id"]: f for f in listing["data"]}
    assert by_id[ids[0]]["bytes"] == len(data) and by_id[ids[1]]["filename"] == "b.txt"
    assert list(by_id[ids[0]]) == [
        "object", "id", "purpose", "filename", "bytes", "created_at", "expires_at", "status",
        "status_details",
    ]  # fmt: skip
    assert _run(
        live_server, "ls", "--limit", "1", "-q", "--purpose", "user_data"
    ).stdout.split() == [listing["data"][-1]["id"]]

    out = tmp_path / "copy.bin"
    result = _run(live_server, "get", ids[0], "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == data

    result = _run(live_server, "info", ids[1])
    assert json.loads(result.stdout)["filename"] == "b.txt"

    result = _run(live_server, "wait", ids[1], "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["status"] == "processed"

    result = _run(live_server, "rm", *ids, "-q")
    assert result.exit_code == 0 and result.stdout.split() == ids
    result = _run(live_server, "info", ids[0])
    assert result.exit_code == 1
    assert f"No such File object: {ids[0]}" in result.stderr


def test_get_defaults_to_the_file_name_and_stdout(
    live_server: ServerProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "named.txt"
    src.write_bytes(b"content\n")
    file_id = _run(live_server, "upload", str(src), "--purpose", "user_data", "-q").stdout.strip()
    target = tmp_path / "dl"
    target.mkdir()
    monkeypatch.chdir(target)
    assert _run(live_server, "get", file_id, "-q").exit_code == 0
    assert (target / "named.txt").read_bytes() == b"content\n"
    assert _run(live_server, "get", file_id, "-o", "-").stdout_bytes == b"content\n"


def test_expires_after_and_json_upload(live_server: ServerProcess, tmp_path: Path) -> None:
    src = tmp_path / "e.txt"
    src.write_bytes(b"x")
    result = _run(
        live_server,
        "upload",
        str(src),
        "--purpose",
        "user_data",
        "--expires-after",
        "3600",
        "--json",
    )
    f = json.loads(result.stdout)
    assert f["expires_at"] == f["created_at"] + 3600


def test_errors_print_the_server_message_and_exit_non_zero(
    live_server: ServerProcess, tmp_path: Path
) -> None:
    src = tmp_path / "x.txt"
    src.write_bytes(b"x")
    result = _run(live_server, "upload", str(src), "--purpose", "nope")
    assert result.exit_code == 1
    assert "'nope' is not one of" in result.stderr and "HTTP 400" in result.stderr
    result = _run(live_server, "ls", key="sk-wrong")
    assert result.exit_code == 1 and "Incorrect API key provided" in result.stderr
    result = _run(live_server, "rm", "file-doesnotexist000000000")
    assert result.exit_code == 1 and "No such File object" in result.stderr
    result = _run(live_server, "get", "file-doesnotexist000000000", "-o", str(tmp_path / "n"))
    assert result.exit_code == 1 and not (tmp_path / "n").exists()
    result = _run(live_server, "upload", str(src), "--purpose", "user_data", "--part-size", "65MiB")
    assert result.exit_code == 2 and "part_size must be between" in result.stderr


def test_report_command(live_server: ServerProcess, tmp_path: Path) -> None:
    src = tmp_path / "r.txt"
    src.write_bytes(b"x")
    file_id = _run(live_server, "upload", str(src), "--purpose", "assistants", "-q").stdout.strip()
    result = _run(live_server, "report", file_id)
    if result.exit_code == 1:
        # A server without the report extension: a clear message, no traceback.
        assert "has no validation reports" in result.stderr
        assert "Traceback" not in result.output
    else:
        assert result.exit_code == 0 and result.stdout.strip()


def test_render_report_lists_errors_by_line() -> None:
    text = render_report(
        {
            "status": "error",
            "errors": [
                {"line": 2, "code": "invalid_json_line", "message": "line contains invalid json"},
                {"line": None, "message": "too few examples"},
            ],
        }
    )
    assert "status: error" in text
    assert "line 2: [invalid_json_line] line contains invalid json" in text
    assert "file: too few examples" in text
    assert json.loads(render_report({"other": [1]})) == {"other": [1]}


def test_render_report_leaves_out_absent_fields_and_reads_stats() -> None:
    text = render_report(
        {
            "status": "processed",
            "format": None,
            "status_details": None,
            "stats": {"lines": 2, "requests": 2},
            "errors": [],
        }
    )
    assert "None" not in text
    assert "status: processed" in text and "lines: 2" in text


def test_real_process_exit_codes_and_streams(live_server: ServerProcess, tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "FILEDOCK_"))},
        "OPENAI_BASE_URL": live_server.base_url,
    }
    ok = subprocess.run(
        [sys.executable, "-m", "filedock", "ls", "-q", "--api-key", TEST_KEY],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    missing_key = subprocess.run(
        [sys.executable, "-m", "filedock", "ls"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert missing_key.returncode == 1
    assert "No API key" in missing_key.stderr and missing_key.stdout == ""
