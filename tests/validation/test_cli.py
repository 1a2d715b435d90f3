"""`filedock validate`: the same report as the server, exit status 1 when invalid."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from filedock.cli import main

CORPUS = Path(__file__).parent / "corpus"


def test_valid_file_exits_zero_with_a_readable_report() -> None:
    result = CliRunner().invoke(
        main, ["validate", str(CORPUS / "fine-tune/chat_valid.jsonl"), "--purpose", "fine-tune"]
    )
    assert result.exit_code == 0, result.output
    assert "verdict: valid" in result.output
    assert "examples: 10" in result.output


def test_invalid_file_exits_one_and_json_matches_the_expected_report() -> None:
    path = CORPUS / "batch/errors.jsonl"
    result = CliRunner().invoke(main, ["validate", str(path), "--purpose", "batch", "--json"])
    assert result.exit_code == 1
    body = json.loads(result.output)
    expected = json.loads(path.with_name(path.name + ".expected.json").read_text())
    assert body["object"] == "file.report" and body["verdict"] == "invalid"
    assert [[e["line"], e["code"]] for e in body["errors"]] == expected["errors"]


def test_limits_come_from_the_same_settings_as_the_server() -> None:
    runner = CliRunner()
    batch = ["validate", str(CORPUS / "batch/valid.jsonl"), "--purpose", "batch"]
    assert runner.invoke(main, batch).exit_code == 0
    assert runner.invoke(main, batch, env={"FILEDOCK_BATCH_MAX_REQUESTS": "3"}).exit_code == 1
    # Fewer examples than a training job needs is a warning (a validation file may be small).
    short = ["validate", str(CORPUS / "fine-tune/too_few.jsonl"), "--purpose", "fine-tune"]
    result = runner.invoke(main, short)
    assert result.exit_code == 0 and "(too_few_examples)" in result.output
    result = runner.invoke(main, short, env={"FILEDOCK_FINE_TUNE_MIN_EXAMPLES": "3"})
    assert result.exit_code == 0 and "too_few_examples" not in result.output


def test_invalid_lines_are_not_counted_as_examples() -> None:
    path = CORPUS / "fine-tune/chat_errors.jsonl"
    result = CliRunner().invoke(main, ["validate", str(path), "--purpose", "fine-tune"])
    assert result.exit_code == 1
    assert "examples: 4\n" in result.output and "invalid_examples: 8" in result.output


def test_large_file_without_a_terminal_shows_no_progress_bar(tmp_path: Path) -> None:
    line = json.dumps({"item": {"text": "x" * 1000}}) + "\n"
    path = tmp_path / "big.jsonl"
    with path.open("w") as out:
        for _ in range(10_000):  # about 10 MB: over the progress-bar threshold
            out.write(line)
    done = subprocess.run(
        [sys.executable, "-m", "filedock", "validate", str(path), "--purpose", "evals"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "items: 10000" in done.stdout
    assert done.stderr == ""
