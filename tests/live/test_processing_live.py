"""The official SDK against a real server: upload -> wait_for_processing -> final status, the
report endpoint, strict mode, and files left `uploaded` by a stopped or killed server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.helpers import TEST_KEY, ServerProcess, make_server

pytestmark = pytest.mark.live
CORPUS = Path(__file__).parent.parent / "validation" / "corpus"
FAST = {"FILEDOCK_PROCESSING_POLL_SECONDS": "0.2"}
CASES = [
    ("fine-tune", "chat_valid.jsonl", "chat_errors.jsonl"),
    ("batch", "valid.jsonl", "errors.jsonl"),
    ("evals", "valid.jsonl", "errors.jsonl"),
    ("vision", "ok.png", "truncated.png"),
    ("assistants", "notes.txt", "latin1.txt"),
]


def sdk(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(api_key=TEST_KEY, base_url=server.base_url, max_retries=0)


def report(server: ServerProcess, file_id: str) -> httpx.Response:
    return httpx.get(
        f"{server.base_url}/files/{file_id}/report",
        headers={"Authorization": f"Bearer {TEST_KEY}"},
        timeout=30,
    )


def expected(purpose: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CORPUS / purpose / f"{name}.expected.json").read_text())
    return data


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = make_server(tmp_path_factory.mktemp("processing") / "data", env=FAST).start()
    try:
        yield process
    finally:
        process.stop()


@pytest.mark.parametrize(("purpose", "good", "bad"), CASES, ids=[c[0] for c in CASES])
def test_good_and_bad_file_of_every_purpose(
    server: ServerProcess, purpose: str, good: str, bad: str
) -> None:
    client = sdk(server)
    ok = client.files.create(file=CORPUS / purpose / good, purpose=purpose)  # type: ignore[arg-type]
    ko = client.files.create(file=CORPUS / purpose / bad, purpose=purpose)  # type: ignore[arg-type]
    ok = client.files.wait_for_processing(ok.id, poll_interval=0.1, max_wait_seconds=60)
    ko = client.files.wait_for_processing(ko.id, poll_interval=0.1, max_wait_seconds=60)
    assert (ok.status, ok.status_details) == ("processed", None)
    assert ko.status == "error"
    assert ko.status_details is not None
    assert ko.status_details.startswith("Invalid file format. ")
    first_line = expected(purpose, bad)["errors"][0][0]
    if first_line is not None:
        assert ko.status_details.startswith(f"Invalid file format. Line {first_line}: ")

    body = report(server, ko.id).json()
    assert body["file_id"] == ko.id and body["status"] == "error"
    assert body["verdict"] == "invalid"
    assert [[e["line"], e["code"]] for e in body["errors"]] == expected(purpose, bad)["errors"]
    assert report(server, ok.id).json()["verdict"] == "valid"


def test_report_of_unknown_file_is_a_404_envelope(server: ServerProcess) -> None:
    response = report(server, "file-unknown")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "No such File object: file-unknown"


def test_strict_mode_is_a_400_at_upload(tmp_path: Path) -> None:
    process = make_server(tmp_path / "data", env={"FILEDOCK_REJECT_INVALID": "true"}).start()
    try:
        client = sdk(process)
        with pytest.raises(openai.BadRequestError) as caught:
            client.files.create(file=CORPUS / "batch" / "errors.jsonl", purpose="batch")
        assert caught.value.status_code == 400
        assert caught.value.code == "invalid_file_format"
        assert "Line 3: custom_id 'req-0' is used more than once" in caught.value.message
        good = client.files.create(file=CORPUS / "batch" / "valid.jsonl", purpose="batch")
        assert good.status == "processed"
        assert [f.id for f in client.files.list()] == [good.id]
    finally:
        process.stop()


@pytest.mark.parametrize("how", ["stop", "kill"])
def test_file_left_uploaded_is_processed_after_restart(tmp_path: Path, how: str) -> None:
    data_dir = tmp_path / "data"
    slow = make_server(
        data_dir,
        env={
            "FILEDOCK_PROCESSING_DELAY_SECONDS": "600",
            "FILEDOCK_PROCESSING_LEASE_SECONDS": "3",
            **FAST,
        },
    ).start()
    try:
        client = sdk(slow)
        good = client.files.create(file=CORPUS / "evals" / "valid.jsonl", purpose="evals")
        bad = client.files.create(file=CORPUS / "evals" / "errors.jsonl", purpose="evals")
        assert client.files.retrieve(good.id).status == "uploaded"
    finally:
        if how == "stop":
            slow.stop()  # graceful: leases are given back at once
        else:
            slow.kill()  # crash: the leases run out after 3 s
    again = make_server(data_dir, env=FAST).start()
    try:
        client = sdk(again)
        final = client.files.wait_for_processing(good.id, poll_interval=0.1, max_wait_seconds=60)
        assert final.status == "processed"
        final = client.files.wait_for_processing(bad.id, poll_interval=0.1, max_wait_seconds=60)
        assert final.status == "error"
        assert final.status_details is not None and "Line 2: " in final.status_details
    finally:
        again.stop()
