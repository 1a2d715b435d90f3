"""Two `filedock serve` on one PostgreSQL database and one S3 bucket share one batch; one is
killed (kill -9) in the middle and the other finishes it: every custom_id exactly once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import psycopg
import pytest

from tests.batches.conftest import jsonl, request_line
from tests.batches.stub_engine import Reply, StubEngine
from tests.helpers import TEST_KEY, ServerProcess, make_server
from tests.live.test_scale_out import shared_env
from tests.services import PostgresServer, SwiftServer

pytestmark = [pytest.mark.live, pytest.mark.postgres, pytest.mark.slow]

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
CONCURRENCY = 6


@pytest.fixture
def stub() -> Iterator[StubEngine]:
    engine = StubEngine(script=lambda request, seen: Reply(delay=0.05)).start()
    try:
        yield engine
    finally:
        engine.stop()


def batch_env(stub: StubEngine) -> dict[str, str]:
    return {
        "FILEDOCK_ENGINE_URL": stub.url,
        "FILEDOCK_BATCH_CONCURRENCY": str(CONCURRENCY),
        "FILEDOCK_BATCH_LEASE_SECONDS": "2",
        "FILEDOCK_BATCH_POLL_SECONDS": "0.1",
    }


@pytest.mark.s3
def test_two_servers_on_postgres_and_s3_share_a_batch_and_one_finishes_it(
    postgres_server: PostgresServer, swift_server: SwiftServer, stub: StubEngine, tmp_path: Path
) -> None:
    env = shared_env(postgres_server, swift_server, **batch_env(stub))
    one = make_server(tmp_path / "one", env=env)
    two = make_server(tmp_path / "two", env=env)
    share_a_batch(one, two, env, stub)


def test_two_servers_on_postgres_and_one_blob_folder_share_a_batch(
    postgres_server: PostgresServer, stub: StubEngine, tmp_path: Path
) -> None:
    env = {"FILEDOCK_DATABASE_URL": postgres_server.database(), **batch_env(stub)}
    one = make_server(tmp_path / "data", env=env)
    two = make_server(tmp_path / "data", env=env)  # the same blob folder, its own log
    two.log_path = tmp_path / "two.log"
    share_a_batch(one, two, env, stub)


def share_a_batch(
    one: ServerProcess, two: ServerProcess, env: dict[str, str], stub: StubEngine
) -> None:
    one.start(timeout=60)
    two.start(timeout=60)
    ids = [f"s{i}" for i in range(400)]
    try:
        with httpx.Client(base_url=one.base_url, headers=AUTH, timeout=30) as http:
            file_id = http.post(
                "/files",
                files={"file": ("in.jsonl", jsonl([request_line(c) for c in ids]))},
                data={"purpose": "batch"},
            ).json()["id"]
            batch = http.post(
                "/batches",
                json={
                    "input_file_id": file_id,
                    "endpoint": "/v1/chat/completions",
                    "completion_window": "24h",
                },
            ).json()
        owners: set[str] = set()
        deadline = time.monotonic() + 60
        with psycopg.connect(env["FILEDOCK_DATABASE_URL"], autocommit=True) as db:
            while len(owners) < 2:  # both servers hold requests of the batch
                assert time.monotonic() < deadline, owners
                rows = db.execute(
                    "SELECT DISTINCT lease_owner FROM batch_requests "
                    "WHERE batch_id = %s AND state = 'leased'",
                    (batch["id"],),
                ).fetchall()
                owners |= {r[0] for r in rows}
                time.sleep(0.02)
        assert stub.max_in_flight <= CONCURRENCY  # the limit holds across both servers
        one.kill()
        with openai.OpenAI(base_url=two.base_url, api_key=TEST_KEY, max_retries=0) as sdk:
            deadline = time.monotonic() + 120
            while (done := sdk.batches.retrieve(batch["id"])).status != "completed":
                assert done.status in ("in_progress", "finalizing"), done
                assert time.monotonic() < deadline, done
                time.sleep(0.1)
            assert done.output_file_id is not None and done.error_file_id is None
            lines = [
                json.loads(x) for x in sdk.files.content(done.output_file_id).text.splitlines()
            ]
    finally:
        one.stop()
        two.stop()
    assert [x["custom_id"] for x in lines] == ids
    counts = stub.counts()
    assert set(counts) == set(ids)
    assert sum(n - 1 for n in counts.values()) <= CONCURRENCY
    assert stub.max_in_flight <= CONCURRENCY
