"""Storage quotas: atomic reservations under concurrency, release on failure, delete and expiry."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from filedock.components import Components
from filedock.models import Reservation
from filedock.settings import Settings
from tests.helpers import TEST_KEY, make_server
from tests.projects.conftest import Tenant, make_tenant, upload

ADMIN = {"Authorization": f"Bearer {TEST_KEY}"}
BOUNDARY = "quota-test-boundary"


def _multipart(content: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n'
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="d.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


def _chunks(body: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _usage(client: httpx.Client, project_id: str) -> dict[str, int]:
    quota: dict[str, int] = client.get(
        f"/v1/organization/projects/{project_id}/usage", headers=ADMIN
    ).json()["quota"]
    return quota


def _count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


@pytest.mark.live
def test_concurrent_uploads_never_exceed_the_quota(tmp_path: Path) -> None:
    size, fits = 200_000, 10
    quota = fits * size + 5_000  # room for ten files (and their multipart framing), not eleven
    server = make_server(tmp_path / "data").start()
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=60) as admin:
            tenant = make_tenant(admin, "race", storage_quota_bytes=quota)
            results: list[httpx.Response] = []
            peaks: list[int] = []
            done = threading.Event()
            barrier = threading.Barrier(32)

            def uploader(i: int) -> None:
                body = _multipart(bytes([i]) * size)
                headers = {
                    **tenant.headers,
                    "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                }
                with httpx.Client(base_url=server.url, timeout=60) as c:
                    barrier.wait()
                    # Even: Content-Length known up front; odd: chunked, reserved as it arrives.
                    content = body if i % 2 == 0 else _chunks(body)
                    results.append(c.post("/v1/files", content=content, headers=headers))

            def monitor() -> None:
                with httpx.Client(base_url=server.url, timeout=60) as c:
                    while not done.is_set():
                        u = _usage(c, tenant.project_id)
                        peaks.append(u["used_bytes"] + u["reserved_bytes"])
                        time.sleep(0.005)

            watcher = threading.Thread(target=monitor)
            watcher.start()
            threads = [threading.Thread(target=uploader, args=(i,)) for i in range(32)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            done.set()
            watcher.join()

            ok = [r for r in results if r.status_code == 200]
            refused = [r for r in results if r.status_code != 200]
            assert len(results) == 32
            assert 1 <= len(ok) <= fits
            assert refused, "the quota fits only some of the uploads"
            for r in refused:
                assert r.status_code == 400, r.text
                error = r.json()["error"]
                assert error["code"] == "storage_quota_exceeded"
                assert error["message"].startswith(
                    f"Storage quota exceeded for project {tenant.project_id}: "
                )
                assert error["message"].endswith(f" of {quota} bytes used")
            assert peaks and max(peaks) <= quota

            final = _usage(admin, tenant.project_id)
            assert final == {
                "limit_bytes": quota,
                "used_bytes": len(ok) * size,
                "reserved_bytes": 0,
            }
            listed = admin.get("/v1/files", headers=tenant.headers).json()["data"]
            assert sorted(f["id"] for f in listed) == sorted(r.json()["id"] for r in ok)
            assert sum(f["bytes"] for f in listed) <= quota
    finally:
        server.stop()
    # Every refused upload left nothing: no blob, no temporary, no row, no reservation.
    data = tmp_path / "data"
    assert _count_files(data / "blobs") == len(ok)
    assert _count_files(data / "tmp") == 0
    with sqlite3.connect(data / "filedock.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM quota_reservations").fetchone() == (0,)
        assert db.execute(
            "SELECT COUNT(*) FROM files WHERE project_id = ?", (tenant.project_id,)
        ).fetchone() == (len(ok),)


def test_delete_gives_the_bytes_back_and_messages_are_exact(client: TestClient) -> None:
    tenant = make_tenant(client, "q", storage_quota_bytes=3000)
    first = upload(client, tenant, b"x" * 2000)
    usage = client.get(f"/v1/organization/projects/{tenant.project_id}/usage").json()
    assert usage["quota"] == {"limit_bytes": 3000, "used_bytes": 2000, "reserved_bytes": 0}
    assert usage["bytes"] == 2000 and usage["file_count"] == 1
    assert usage["purposes"] == {"user_data": {"bytes": 2000, "file_count": 1}}
    refused = client.post(
        "/v1/files",
        files={"file": ("b.bin", b"y" * 1500)},
        data={"purpose": "user_data"},
        headers=tenant.headers,
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == {
        "message": (
            f"Storage quota exceeded for project {tenant.project_id}: 2000 of 3000 bytes used"
        ),
        "type": "invalid_request_error",
        "param": "file",
        "code": "storage_quota_exceeded",
    }
    assert client.delete(f"/v1/files/{first['id']}", headers=tenant.headers).status_code == 200
    upload(client, tenant, b"y" * 1500)
    # Lowering the quota under what is stored refuses new bytes but deletes nothing.
    lowered = client.post(
        f"/v1/organization/projects/{tenant.project_id}", json={"storage_quota_bytes": 1000}
    )
    assert lowered.json()["storage_quota_bytes"] == 1000
    again = client.post(
        "/v1/files",
        files={"file": ("c.bin", b"z")},
        data={"purpose": "user_data"},
        headers=tenant.headers,
    )
    assert again.status_code == 400
    assert "1500 of 1000 bytes used" in again.json()["error"]["message"]
    assert len(client.get("/v1/files", headers=tenant.headers).json()["data"]) == 1


def test_a_failed_upload_releases_its_reservation(client: TestClient, settings: Settings) -> None:
    tenant = make_tenant(client, "f", storage_quota_bytes=10_000)
    bad = client.post(
        "/v1/files",
        files={"file": ("not-jsonl.txt", b"x" * 5000)},
        data={"purpose": "fine-tune"},
        headers=tenant.headers,
    )
    assert bad.status_code == 400  # wrong file type, found after the bytes streamed in
    usage = client.get(f"/v1/organization/projects/{tenant.project_id}/usage").json()
    assert usage["quota"] == {"limit_bytes": 10_000, "used_bytes": 0, "reserved_bytes": 0}


def test_expired_files_and_leases_are_given_back_by_the_sweeper(
    client: TestClient, settings: Settings
) -> None:
    tenant: Tenant = make_tenant(client, "s", storage_quota_bytes=10_000)
    components: Components = client.app.state.components  # type: ignore[attr-defined]
    kept = upload(client, tenant, b"k" * 1000)
    expiring = upload(client, tenant, b"e" * 2000)
    # A crashed server's hold: its lease already ended.
    crashed = Reservation("qres_crashed", tenant.project_id, 4000, int(time.time()) - 1)
    live = Reservation("qres_live", tenant.project_id, 500, int(time.time()) + 3600)
    portal = client.portal  # type: ignore[attr-defined]
    assert portal.call(components.metadata.reserve_quota, crashed, 0, int(time.time()))
    assert portal.call(components.metadata.reserve_quota, live, 0, int(time.time()))
    with sqlite3.connect(settings.resolved_database_url.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE files SET expires_at = 1 WHERE id = ?", (expiring["id"],))
    before = client.get(f"/v1/organization/projects/{tenant.project_id}/usage").json()["quota"]
    assert before == {"limit_bytes": 10_000, "used_bytes": 3000, "reserved_bytes": 4500}
    report = portal.call(components.sweeper.sweep)
    assert report.expired == 1 and report.reservations == 1
    after = client.get(f"/v1/organization/projects/{tenant.project_id}/usage").json()
    assert after["quota"] == {"limit_bytes": 10_000, "used_bytes": 1000, "reserved_bytes": 500}
    assert after["bytes"] == 1000 and kept["bytes"] == 1000


@pytest.mark.live
def test_a_crashed_servers_reservation_does_not_leak(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = make_server(data, env={"FILEDOCK_QUOTA_LEASE_SECONDS": "1"}).start()
    try:
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as admin:
            tenant = make_tenant(admin, "crash")
            head = _multipart(b"")[: -len(f"\r\n--{BOUNDARY}--\r\n")] + b"x" * 4096
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.sendall(
                (
                    "POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    f"Authorization: Bearer {tenant.key}\r\n"
                    f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"
                ).encode()
                + f"{len(head):x}\r\n".encode()
                + head
                + b"\r\n"
            )
            deadline = time.monotonic() + 10
            while _usage(admin, tenant.project_id)["reserved_bytes"] == 0:
                assert time.monotonic() < deadline, "the upload never reserved quota"
                time.sleep(0.02)
            server.kill()  # SIGKILL mid-upload: nothing gets to release the hold
            sock.close()
        with sqlite3.connect(data / "filedock.sqlite3") as db:
            (held,) = db.execute(
                "SELECT reserved_bytes FROM projects WHERE id = ?", (tenant.project_id,)
            ).fetchone()
            assert held > 0
        time.sleep(1.1)  # let the lease run out
        server = make_server(data).start()  # the start-up sweep frees expired leases
        with httpx.Client(base_url=server.url, headers=ADMIN, timeout=30) as admin:
            assert _usage(admin, tenant.project_id)["reserved_bytes"] == 0
    finally:
        server.stop()
