"""The CLI without surprises: a readable `ls`, no silent overwrite, clear connection errors,
projects by name, typed `serve --help`, the audit trail kept off the terminal, the first-run
block, and JSON logs without ANSI `color_message` fields."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from filedock.cli import main
from filedock.logs import JsonFormatter
from tests.helpers import TEST_KEY, ServerProcess, free_port, make_server

CORPUS = Path(__file__).resolve().parents[1] / "validation" / "corpus"


def _run(base_url: str, *args: str, key: str = TEST_KEY) -> Result:
    env = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": key}
    return CliRunner().invoke(main, list(args), env=env)


def _admin(data: Path, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--data-dir", str(data)], catch_exceptions=False)


@pytest.mark.live
def test_ls_has_a_header_a_truncated_details_column_and_json(
    live_server: ServerProcess, tmp_path: Path
) -> None:
    bad = tmp_path / "few.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "hi"}]}\nnot json\n')
    made = _run(live_server.base_url, "upload", str(bad), "--purpose", "fine-tune", "--wait")
    assert made.exit_code == 1  # processing failed
    file_id = made.stdout.split("\t")[0]
    full = json.loads(_run(live_server.base_url, "info", file_id).stdout)["status_details"]
    assert len(full) > 40

    listing = _run(live_server.base_url, "ls", "--purpose", "fine-tune")
    assert listing.exit_code == 0, listing.output
    header, *rows = listing.stdout.splitlines()
    assert header.split() == [
        "ID", "PURPOSE", "BYTES", "CREATED", "(UTC)", "STATUS", "FILENAME", "STATUS", "DETAILS",
    ]  # fmt: skip
    (row,) = [r for r in rows if r.startswith(file_id)]
    assert "error" in row and "few.jsonl" in row
    shown = row[header.index("STATUS DETAILS") :]
    assert shown.endswith("\u2026") and len(shown) == 40 and full.startswith(shown[:-1])

    as_json = json.loads(
        _run(live_server.base_url, "ls", "--purpose", "fine-tune", "--json").stdout
    )
    assert [f["status_details"] for f in as_json["data"] if f["id"] == file_id] == [full]


@pytest.mark.live
def test_get_refuses_to_overwrite_without_force(live_server: ServerProcess, tmp_path: Path) -> None:
    src = tmp_path / "src.txt"
    src.write_bytes(b"new content\n")
    file_id = _run(
        live_server.base_url, "upload", str(src), "--purpose", "user_data", "-q"
    ).stdout.strip()
    target = tmp_path / "precious.txt"
    target.write_bytes(b"keep me\n")
    refused = _run(live_server.base_url, "get", file_id, "-o", str(target), "-q")
    assert refused.exit_code == 1
    assert "already exists" in refused.stderr and "--force" in refused.stderr
    assert target.read_bytes() == b"keep me\n"
    forced = _run(live_server.base_url, "get", file_id, "-o", str(target), "-q", "--force")
    assert forced.exit_code == 0 and target.read_bytes() == b"new content\n"
    to_stdout = _run(live_server.base_url, "get", file_id, "-o", "-")
    assert to_stdout.exit_code == 0 and to_stdout.stdout_bytes == b"new content\n"


@pytest.mark.live
def test_report_on_a_batch_file_prints_no_empty_fields(
    live_server: ServerProcess,
) -> None:
    path = CORPUS / "batch" / "valid.jsonl"
    made = _run(live_server.base_url, "upload", str(path), "--purpose", "batch", "--wait", "-q")
    assert made.exit_code == 0, made.output
    result = _run(live_server.base_url, "report", made.stdout.strip())
    assert result.exit_code == 0, result.output
    assert "None" not in result.stdout
    assert "verdict: valid" in result.stdout and "requests: 5" in result.stdout


@pytest.mark.live
def test_base_url_without_v1_says_to_add_it(live_server: ServerProcess) -> None:
    result = _run(live_server.url, "ls")
    assert result.exit_code == 1
    assert "Invalid URL" in result.stderr
    assert f"set OPENAI_BASE_URL (or --base-url) to {live_server.url}/v1" in result.stderr
    # With /v1 there is no such advice.
    assert "/v1" not in _run(live_server.base_url, "info", "file-nope000000000").stderr


def test_connection_refused_names_the_url_tried() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    result = _run(url, "ls")
    assert result.exit_code == 1
    assert f"could not reach the server at {url}" in result.stderr
    assert "Traceback" not in result.output


def test_keys_accept_a_project_name_or_id(tmp_path: Path) -> None:
    data = tmp_path / "data"
    project_id = _admin(data, "projects", "create", "teamA").stdout.strip()
    by_name = _admin(data, "keys", "create", "--project", "teamA", "--name", "ci")
    assert by_name.exit_code == 0, by_name.output
    assert f"in {project_id}" in by_name.stderr
    by_id = _admin(data, "keys", "create", "--project", project_id)
    assert by_id.exit_code == 0, by_id.output
    listed = _admin(data, "keys", "list", "--project", "teamA")
    assert len(listed.stdout.splitlines()) == 2
    shown = _admin(data, "projects", "show", "teamA")
    assert shown.exit_code == 0 and shown.stdout.startswith(project_id)
    assert _admin(data, "projects", "set-quota", "teamA", "1MB").exit_code == 0
    missing = CliRunner().invoke(
        main, ["keys", "create", "--project", "teamB", "--data-dir", str(data)]
    )
    assert (
        missing.exit_code == 1
        and "No such project: teamB (no project has that id or name)" in missing.output
    )
    assert _admin(data, "projects", "delete", "teamA").exit_code == 0


def test_admin_commands_keep_the_audit_trail_in_its_log(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _admin(data, "projects", "list").exit_code == 0
    assert not (data / "audit.log").exists()  # nothing changed, nothing written
    made = _admin(data, "projects", "create", "audited")
    key = _admin(data, "keys", "create", "--project", "audited")
    for result in (made, key):
        assert result.exit_code == 0
        assert '"event"' not in result.stderr and "{" not in result.stderr
    events = [json.loads(line) for line in (data / "audit.log").read_text().splitlines()]
    assert [e["event"] for e in events] == ["project.created", "key.created"]
    assert all(e["via"] == "cli" for e in events)
    # An explicit audit log path wins.
    elsewhere = tmp_path / "audit" / "trail.jsonl"
    result = CliRunner().invoke(
        main,
        ["projects", "create", "other", "--data-dir", str(data)],
        env={"FILEDOCK_AUDIT_LOG_PATH": str(elsewhere)},
    )
    assert result.exit_code == 0 and '"project.created"' in elsewhere.read_text()


def test_serve_help_shows_types_and_defaults() -> None:
    text = CliRunner().invoke(main, ["serve", "--help"], terminal_width=200).stdout
    assert re.search(r"--port INTEGER\s+TCP port to listen on\. \[default: 8000;", text)
    assert re.search(r"--data-dir PATH\s", text)
    assert re.search(r"--max-file-bytes SIZE\s", text)
    assert re.search(r"--restrict-downloads BOOLEAN\s", text)
    assert re.search(r"--sweep-interval-seconds FLOAT\s", text)
    assert "--port TEXT" not in text
    bad = CliRunner().invoke(main, ["serve", "--port", "eighty"])
    assert bad.exit_code == 2 and "'eighty' is not a valid integer" in bad.output


def test_json_logs_leave_out_ansi_color_message() -> None:
    record = logging.makeLogRecord(
        {
            "name": "uvicorn.error",
            "levelname": "INFO",
            "msg": "Started server process [%d]",
            "args": (42,),
            "color_message": "Started server process [\x1b[36m%d\x1b[0m]",
            "extra_field": "kept",
        }
    )
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "Started server process [42]"
    assert "color_message" not in entry and entry["extra_field"] == "kept"
    assert "\x1b" not in json.dumps(entry)


@pytest.mark.live
def test_first_run_prints_a_human_block(tmp_path: Path) -> None:
    server = make_server(tmp_path / "data", api_key="")
    try:
        server.start()
        log = server.log()
        first = log.splitlines()[0]
        assert first.startswith("filedock ") and not first.startswith("{")
        block = log.split("INFO:")[0]
        assert f"API:          {server.url}/v1" in block
        assert f"Dashboard:    {server.url}/" in block
        assert f"Data folder:  {(tmp_path / 'data').resolve()}" in block
        assert "Metadata:     SQLite" in block and "File storage: local folder" in block
        assert "Created the first API key" in block and "sk-fd-" in block
        assert "More keys: filedock keys create --data-dir" in block
        assert '"event"' not in log  # the key's audit line went to data/audit.log
        assert '"key.created"' in (tmp_path / "data" / "audit.log").read_text()
        assert server.stop() == 0
        server.start()
        again = server.log()[len(log) :]
        assert "Dashboard:" in again and "Created the first API key" not in again
        assert "sk-fd-" not in again
    finally:
        server.stop()


@pytest.mark.live
def test_json_logs_get_the_start_facts_as_one_json_line(tmp_path: Path) -> None:
    server = make_server(
        tmp_path / "data", env={"FILEDOCK_LOG_FORMAT": "json", "FILEDOCK_LOG_LEVEL": "info"}
    )
    try:
        server.start()
    finally:
        assert server.stop() == 0
    lines = [line for line in server.log().splitlines() if line.strip()]
    assert all(line.startswith("{") for line in lines), lines
    (start,) = [json.loads(line) for line in lines if "filedock is starting" in line]
    assert start["dashboard_url"] == f"{server.url}/"
    assert start["data_dir"] == str((tmp_path / "data").resolve())
    assert start["first_key_created"] is False
