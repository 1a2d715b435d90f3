"""The processing pipeline in process: leases in the metadata store, background checks through
the real app, the report endpoint and strict mode."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient

from filedock.metadata.base import MetadataStore
from filedock.metadata.factory import metadata_store_for_url
from filedock.models import FileRecord
from filedock.settings import Settings
from filedock.web import create_app
from tests.conftest import AUTH

CORPUS = Path(__file__).parent / "corpus"


def record(i: int, status: str = "uploaded") -> FileRecord:
    return FileRecord(
        id=f"file-{i:022d}",
        project_id="proj_default",
        purpose="batch",
        filename="b.jsonl",
        bytes=1,
        created_at=1000 + i,
        expires_at=None,
        status=status,
        status_details=None,
        sha256="0" * 64,
        blob_key=f"key{i}",
    )


def open_store(path: Path) -> MetadataStore:
    store = metadata_store_for_url(f"sqlite:///{path}")
    anyio.run(store.open)
    return store


def test_leases_hand_each_file_to_one_owner_until_the_lease_runs_out(tmp_path: Path) -> None:
    store = open_store(tmp_path / "m.sqlite3")

    async def scenario() -> None:
        for i in range(3):
            await store.insert_file(record(i))
        await store.insert_file(record(9, status="processed"))
        a = await store.claim_files_for_processing("a", now=100, lease_until=200, limit=2)
        assert [r.id for r in a] == [record(0).id, record(1).id]
        b = await store.claim_files_for_processing("b", now=150, lease_until=250, limit=10)
        assert [r.id for r in b] == [record(2).id]  # a's leases still hold; processed is skipped
        assert await store.claim_files_for_processing("b", now=199, lease_until=300, limit=10) == []
        assert await store.renew_processing_lease(record(0).id, "a", 400)
        taken = await store.claim_files_for_processing("b", now=201, lease_until=500, limit=10)
        assert [r.id for r in taken] == [record(1).id]  # a's expired lease on file 1
        assert not await store.finish_processing(record(1).id, "a", "processed", None, "{}", 202)
        assert await store.finish_processing(record(1).id, "b", "error", "bad", '{"x": 1}', 203)
        assert await store.get_file_report(record(1).id) == '{"x": 1}'
        row = await store.get_file("proj_default", record(1).id, 203)
        assert row is not None and (row.status, row.status_details) == ("error", "bad")
        await store.release_processing_lease(record(0).id, "a")
        again = await store.claim_files_for_processing("c", now=204, lease_until=600, limit=10)
        assert [r.id for r in again] == [record(0).id]

    anyio.run(scenario)
    anyio.run(store.close)


def test_concurrent_claimants_never_share_a_file(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    setup = open_store(path)

    async def fill() -> None:
        for i in range(200):
            await setup.insert_file(record(i))

    anyio.run(fill)
    claimed: dict[str, list[str]] = {}

    # Each claimant has its own store (its own connections), as a second server would.
    stores = {f"o{i}": open_store(path) for i in range(3)}

    def claimant(owner: str) -> None:
        store = stores[owner]
        mine: list[str] = []

        async def loop() -> None:
            while batch := await store.claim_files_for_processing(owner, 100, 10_000, 7):
                mine.extend(r.id for r in batch)

        anyio.run(loop)
        anyio.run(store.close)
        claimed[owner] = mine

    threads = [threading.Thread(target=claimant, args=(owner,)) for owner in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [i for ids in claimed.values() for i in ids]
    assert len(everything) == len(set(everything)) == 200
    anyio.run(setup.close)


def wait_final(client: TestClient, file_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/v1/files/{file_id}").json()
        if body["status"] != "uploaded":
            return body
        time.sleep(0.05)
    raise AssertionError(f"{file_id} still uploaded after {timeout}s")


def upload(client: TestClient, purpose: str, name: str, data: bytes) -> dict[str, Any]:
    response = client.post("/v1/files", files={"file": (name, data)}, data={"purpose": purpose})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_background_checks_end_in_processed_or_error(client: TestClient) -> None:
    good = upload(
        client, "fine-tune", "ok.jsonl", (CORPUS / "fine-tune/chat_valid.jsonl").read_bytes()
    )
    bad = upload(client, "batch", "bad.jsonl", (CORPUS / "batch/errors.jsonl").read_bytes())
    plain = upload(client, "user_data", "notes.bin", b"\x00\x01")
    assert good["status"] == "uploaded" and bad["status"] == "uploaded"
    assert plain["status"] == "processed"
    assert wait_final(client, good["id"])["status"] == "processed"
    final = wait_final(client, bad["id"])
    assert final["status"] == "error"
    assert final["status_details"].startswith(
        "Invalid file format. Line 3: custom_id 'req-0' is used more than once."
    )
    expected = json.loads((CORPUS / "batch/errors.jsonl.expected.json").read_text())
    count = len(expected["errors"])
    assert final["status_details"].endswith(f" {count - 3} more errors.")

    report = client.get(f"/v1/files/{bad['id']}/report").json()
    assert report["file_id"] == bad["id"] and report["verdict"] == "invalid"
    assert report["error_count"] == count
    assert report["errors"][0] == {
        "line": 3,
        "path": "custom_id",
        "code": "duplicate_custom_id",
        "message": "custom_id 'req-0' is used more than once",
    }
    ok_report = client.get(f"/v1/files/{good['id']}/report").json()
    assert ok_report["verdict"] == "valid" and ok_report["stats"]["examples"] == 10
    assert ok_report["stats"]["total_tokens"] > 0
    assert client.get(f"/v1/files/{plain['id']}/report").json()["verdict"] == "unchecked"


def test_report_errors_use_the_envelope(client: TestClient) -> None:
    missing = client.get("/v1/files/file-doesnotexist/report")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {
            "message": "No such File object: file-doesnotexist",
            "type": "invalid_request_error",
            "param": "id",
            "code": None,
        }
    }
    body = upload(client, "evals", "e.jsonl", b'{"item": {}}\n')
    client.delete(f"/v1/files/{body['id']}")
    assert client.get(f"/v1/files/{body['id']}/report").status_code == 404


@pytest.fixture
def delayed_client(settings: Settings) -> Any:
    app = create_app(settings.replace(processing_delay_seconds=60))
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as c:
        yield c


def test_pending_report_while_uploaded(delayed_client: TestClient) -> None:
    body = upload(delayed_client, "evals", "e.jsonl", b'{"item": {}}\n')
    report = delayed_client.get(f"/v1/files/{body['id']}/report").json()
    assert (report["status"], report["verdict"]) == ("uploaded", "pending")


def blob_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]


def test_strict_mode_refuses_invalid_content_and_keeps_no_bytes(settings: Settings) -> None:
    strict = settings.replace(reject_invalid=True)
    with TestClient(create_app(strict), headers=AUTH, raise_server_exceptions=False) as client:
        bad = client.post(
            "/v1/files",
            files={"file": ("bad.jsonl", (CORPUS / "fine-tune/chat_errors.jsonl").read_bytes())},
            data={"purpose": "fine-tune"},
        )
        assert bad.status_code == 400
        error = bad.json()["error"]
        assert error["code"] == "invalid_file_format" and error["param"] == "file"
        assert error["message"].startswith("Invalid file format. Line 3: invalid JSON (")
        assert blob_files(strict.data_dir) == []
        assert client.get("/v1/files").json()["data"] == []
        good = upload(
            client, "fine-tune", "ok.jsonl", (CORPUS / "fine-tune/chat_valid.jsonl").read_bytes()
        )
        assert good["status"] == "processed"  # checked before the answer
        assert client.get(f"/v1/files/{good['id']}/report").json()["verdict"] == "valid"
        assert len(blob_files(strict.data_dir)) == 1
        # The connection stays usable after the refusal.
        assert client.get("/v1/files").status_code == 200
        report = json.loads(client.get(f"/v1/files/{good['id']}/report").text)
        assert report["status"] == "processed"
