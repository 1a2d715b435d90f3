"""Never lose a byte, from outside: real `filedock serve` processes under load.

- kill -9 soak: cycles of concurrent POST /files, Uploads parts and completes, each ended by
  SIGKILL at a random moment; then every acknowledged file is byte-exact, nothing partial is
  visible, one sweep (once the dead servers' leases lapsed) leaves no orphan and fsck is clean.
  On SQLite + disk and on PostgreSQL + S3.
- 2,000 small uploads from 8 clients while the sweeper runs every 0.02 s: zero failures.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import pytest

from filedock.clock import FakeClock
from filedock.components import Components
from filedock.models import DEFAULT_PROJECT_ID
from filedock.settings import Settings
from tests.helpers import TEST_KEY, ServerProcess, make_server

pytestmark = [pytest.mark.live, pytest.mark.slow]

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
LEASE = 2
CYCLES = 10
WORKERS = 6


@dataclass
class Ledger:
    """What the clients were told: acknowledged file ids and the sha256 of what they sent."""

    acknowledged: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ack(self, file_id: str, data: bytes) -> None:
        with self.lock:
            self.acknowledged[file_id] = hashlib.sha256(data).hexdigest()


def post_file(client: httpx.Client, rng: random.Random, ledger: Ledger) -> None:
    data = rng.randbytes(rng.randint(1, 200_000))
    response = client.post(
        "/v1/files", files={"file": ("soak.bin", data)}, data={"purpose": "user_data"}
    )
    if response.status_code == 200:
        ledger.ack(response.json()["id"], data)
    elif response.status_code != 503:
        ledger.failures.append(f"POST /files {response.status_code} {response.text[:200]}")


def via_uploads(client: httpx.Client, rng: random.Random, ledger: Ledger) -> None:
    pieces = [rng.randbytes(rng.randint(1, 100_000)) for _ in range(rng.randint(1, 3))]
    data = b"".join(pieces)
    created = client.post(
        "/v1/uploads",
        json={
            "filename": "soak.bin",
            "purpose": "user_data",
            "bytes": len(data),
            "mime_type": "application/octet-stream",
        },
    )
    if created.status_code != 200:
        ledger.failures.append(f"POST /uploads {created.status_code} {created.text[:200]}")
        return
    upload_id = created.json()["id"]
    part_ids = []
    for piece in pieces:
        part = client.post(f"/v1/uploads/{upload_id}/parts", files={"data": ("p", piece)})
        if part.status_code != 200:
            ledger.failures.append(f"POST parts {part.status_code} {part.text[:200]}")
            return
        part_ids.append(part.json()["id"])
    done = client.post(f"/v1/uploads/{upload_id}/complete", json={"part_ids": part_ids})
    if done.status_code == 200:
        ledger.ack(done.json()["file"]["id"], data)
    else:
        ledger.failures.append(f"complete {done.status_code} {done.text[:200]}")


def run_clients(
    server: ServerProcess, ledger: Ledger, stop: threading.Event, seed: int
) -> list[threading.Thread]:
    def work(index: int) -> None:
        rng = random.Random(seed * 100 + index)
        operation: Callable[[httpx.Client, random.Random, Ledger], None]
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=30) as client:
            while not stop.is_set():
                operation = post_file if rng.random() < 0.6 else via_uploads
                try:
                    operation(client, rng, ledger)
                except httpx.HTTPError:
                    if not stop.is_set():
                        raise
                    return  # the server was killed under this request

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(WORKERS)]
    for thread in threads:
        thread.start()
    return threads


def server_env(stack: str, request: pytest.FixtureRequest) -> dict[str, str]:
    env = {
        "FILEDOCK_REQUESTS_PER_MINUTE": "0",
        "FILEDOCK_UPLOADS_PER_MINUTE": "0",
        "FILEDOCK_BLOB_LEASE_SECONDS": str(LEASE),
        "FILEDOCK_SWEEP_INTERVAL_SECONDS": "0.3",
        "FILEDOCK_ORPHAN_GRACE_SECONDS": "0",
    }
    if stack == "postgres-s3":
        postgres = request.getfixturevalue("postgres_server")
        swift = request.getfixturevalue("swift_server")
        env.update({"FILEDOCK_DATABASE_URL": postgres.database(), **swift.env(swift.bucket())})
    return env


async def audit(settings: Settings, ledger: Ledger) -> None:
    """After the last kill: one sweep past the dead servers' leases, then everything checks."""
    clock = FakeClock(time.time() + LEASE + 1)
    components = Components.build(settings, clock=clock)
    await components.open()
    try:
        await components.sweeper.sweep()
        report = await components.fsck().run(verify=True)
        assert report.ok, report.lines()
        for file_id, digest in ledger.acknowledged.items():
            record = await components.files.retrieve_file(DEFAULT_PROJECT_ID, file_id)
            stream = await components.files.open_content(record, 0, record.bytes)
            data = b"".join([chunk async for chunk in stream])
            assert hashlib.sha256(data).hexdigest() == digest, file_id
        # Nothing partial is visible: every listed file (acknowledged or answered by a server
        # that died before it could reply) is whole; fsck --verify above read each of them.
        page = await components.files.list_files(DEFAULT_PROJECT_ID)
        assert set(ledger.acknowledged) <= {record.id for record in page.data}
    finally:
        await components.close()


@pytest.mark.parametrize(
    "stack",
    ["sqlite-disk", pytest.param("postgres-s3", marks=[pytest.mark.postgres, pytest.mark.s3])],
)
def test_kill_9_soak(stack: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    env = server_env(stack, request)
    data_dir = tmp_path / "data"
    ledger = Ledger()
    rng = random.Random(11)
    for cycle in range(CYCLES):
        server = make_server(data_dir, env=env).start()
        stop = threading.Event()
        threads = run_clients(server, ledger, stop, cycle)
        time.sleep(rng.uniform(0.4, 1.2))  # the kill lands at a random point of the load
        stop.set()
        server.kill()
        for thread in threads:
            thread.join(30)
    assert ledger.failures == []
    assert len(ledger.acknowledged) >= CYCLES
    settings = Settings.from_env({"FILEDOCK_API_KEY": TEST_KEY, **env}, data_dir=data_dir)
    anyio.run(audit, settings, ledger)


def test_2000_small_uploads_while_the_sweeper_runs_continuously(tmp_path: Path) -> None:
    env = {
        "FILEDOCK_SWEEP_INTERVAL_SECONDS": "0.02",
        "FILEDOCK_ORPHAN_GRACE_SECONDS": "0",
        "FILEDOCK_REQUESTS_PER_MINUTE": "0",  # unlimited: this measures the sweeper, not limits
        "FILEDOCK_UPLOADS_PER_MINUTE": "0",
    }
    server = make_server(tmp_path / "data", env=env).start()
    ledger = Ledger()
    remaining = iter(range(2000))
    lock = threading.Lock()

    def work() -> None:
        with httpx.Client(base_url=server.url, headers=AUTH, timeout=60) as client:
            while True:
                with lock:
                    index = next(remaining, None)
                if index is None:
                    return
                data = os.urandom(64 + index % 512)
                response = client.post(
                    "/v1/files", files={"file": ("s.bin", data)}, data={"purpose": "user_data"}
                )
                if response.status_code != 200:
                    ledger.failures.append(f"{response.status_code} {response.text[:200]}")
                    continue
                file_id = response.json()["id"]
                ledger.ack(file_id, data)
                content = client.get(f"/v1/files/{file_id}/content")
                if content.status_code != 200 or content.content != data:
                    ledger.failures.append(f"content of {file_id}: {content.status_code}")

    try:
        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert ledger.failures == []
        assert len(ledger.acknowledged) == 2000
        assert "Traceback" not in server.log()
    finally:
        assert server.stop() == 0
    settings = Settings.from_env({"FILEDOCK_API_KEY": TEST_KEY, **env}, data_dir=tmp_path / "data")
    anyio.run(audit, settings, ledger)
