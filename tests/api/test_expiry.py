"""Expiry in process: an expired file vanishes at once; the Sweeper removes its bytes and row."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from starlette.testclient import TestClient

from filedock.clock import FakeClock
from filedock.components import Components
from filedock.models import DEFAULT_PROJECT_ID, FileRecord
from filedock.settings import Settings


def _components(client: TestClient) -> Components:
    components: Components = client.app.state.components  # type: ignore[attr-defined]
    return components


def _blob_files(settings: Settings) -> list[Path]:
    return [p for p in (settings.data_dir / "blobs").rglob("*") if p.is_file()]


def _row(settings: Settings, file_id: str) -> tuple[object, ...] | None:
    with sqlite3.connect(settings.data_dir / "filedock.sqlite3") as db:
        row: tuple[object, ...] | None = db.execute(
            "SELECT id, deleted_at FROM files WHERE id = ?", (file_id,)
        ).fetchone()
    return row


def _upload(client: TestClient, name: str, seconds: int = 3600) -> str:
    response = client.post(
        "/v1/files",
        files={"file": (name, b"soon gone")},
        data={
            "purpose": "user_data",
            "expires_after[anchor]": "created_at",
            "expires_after[seconds]": str(seconds),
        },
    )
    assert response.status_code == 200, response.text
    file_id: str = response.json()["id"]
    return file_id


def test_expired_file_vanishes_at_once_and_is_swept(
    clocked_client: TestClient, settings: Settings, clock: FakeClock
) -> None:
    client = clocked_client
    keep = _upload(client, "keep.txt", 7200)
    gone = _upload(client, "gone.txt", 3600)
    assert len(_blob_files(settings)) == 2
    clock.advance(3599)
    assert client.get(f"/v1/files/{gone}").status_code == 200  # its last second
    clock.advance(1)

    for method, path in [
        ("GET", f"/v1/files/{gone}"),
        ("GET", f"/v1/files/{gone}/content"),
        ("DELETE", f"/v1/files/{gone}"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["message"] == f"No such File object: {gone}"
    assert [f["id"] for f in client.get("/v1/files").json()["data"]] == [keep]
    assert client.get("/v1/files", params={"purpose": "user_data"}).json()["data"][0]["id"] == keep
    # Not swept yet: the bytes are still there, but nobody can see them.
    assert len(_blob_files(settings)) == 2

    components = _components(client)
    report = client.portal.call(components.sweeper.sweep)  # type: ignore[union-attr]
    assert report.expired == 1
    assert len(_blob_files(settings)) == 1
    row = _row(settings, gone)
    assert row is not None and row[1] is not None  # a tombstone for cursors, until purged
    # Tombstones older than the retention are purged: then the row is gone too.
    purged = client.portal.call(  # type: ignore[union-attr]
        components.metadata.purge_tombstones, clock.now() + 1
    )
    assert purged == 1
    assert _row(settings, gone) is None
    assert client.get(f"/v1/files/{keep}/content").content == b"soon gone"


def test_expired_row_inserted_through_the_store(client: TestClient, settings: Settings) -> None:
    components = _components(client)
    now = int(time.time())
    record = FileRecord(
        id="file-ExpiredExpiredExpired1",
        project_id=DEFAULT_PROJECT_ID,
        purpose="batch",
        filename="old.jsonl",
        bytes=0,
        created_at=now - 7200,
        expires_at=now - 3600,
        status="processed",
        status_details=None,
        sha256="0" * 64,
        blob_key="feedfacefeedfacefeedfacefeedface",
    )
    client.portal.call(components.metadata.insert_file, record)  # type: ignore[union-attr]
    assert client.get(f"/v1/files/{record.id}").status_code == 404
    assert client.get("/v1/files").json()["data"] == []
    # Its id still works as a cursor.
    assert client.get("/v1/files", params={"after": record.id}).status_code == 200
    report = client.portal.call(components.sweeper.sweep)  # type: ignore[union-attr]
    assert report.expired == 1


def test_file_expiring_in_the_future_is_listed(client: TestClient) -> None:
    file_id = _upload(client, "later.txt")
    listed = client.get("/v1/files").json()["data"]
    assert [f["id"] for f in listed] == [file_id]
    assert listed[0]["expires_at"] == listed[0]["created_at"] + 3600
