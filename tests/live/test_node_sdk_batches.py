"""The official Node SDK (npm `openai`) drives the Batch API of a live server: create, retrieve,
list (the SDK's async iterator follows `after`), cancel, a missing batch. The engine is the stub
engine (a stub: it holds every request in flight, so the cancelled batch is still running)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.batches.conftest import jsonl, request_line
from tests.batches.stub_engine import StubEngine
from tests.helpers import TEST_KEY, ServerProcess, batch_server
from tests.live.test_node_sdk import node_sdk_dir

SCRIPT = Path(__file__).with_name("node") / "batches_roundtrip.cjs"
BATCH_KEYS = [
    "id", "object", "endpoint", "model", "errors", "input_file_id", "completion_window",
    "status", "output_file_id", "error_file_id", "created_at", "in_progress_at", "expires_at",
    "finalizing_at", "completed_at", "failed_at", "expired_at", "cancelling_at", "cancelled_at",
    "request_counts", "usage", "metadata",
]  # fmt: skip

pytestmark = pytest.mark.live


@pytest.fixture
def held_stub() -> Iterator[StubEngine]:
    engine = StubEngine().start()
    engine.hold()
    try:
        yield engine
    finally:
        engine.release()
        engine.stop()


@pytest.fixture
def server(held_stub: StubEngine, tmp_path: Path) -> Iterator[ServerProcess]:
    with batch_server(tmp_path / "data", held_stub.url) as s:
        yield s


def test_node_sdk_batches(server: ServerProcess, tmp_path: Path) -> None:
    sdk = node_sdk_dir()
    src = tmp_path / "requests.jsonl"
    src.write_bytes(jsonl([request_line(f"n{i}") for i in range(5)]))
    result = subprocess.run(
        ["node", str(SCRIPT), server.base_url, TEST_KEY, str(src)],
        env={**os.environ, "NODE_PATH": str(sdk / "node_modules")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["input"]["purpose"] == "batch"
    created = out["created"]
    assert list(created) == BATCH_KEYS
    assert created["object"] == "batch" and created["id"].startswith("batch_")
    assert created["status"] == "validating" and created["input_file_id"] == out["input"]["id"]
    assert created["metadata"] == {"run": "node-sdk"}
    assert created["expires_at"] == created["created_at"] + 86400
    assert out["retrieved"]["id"] == created["id"] and list(out["retrieved"]) == BATCH_KEYS
    assert out["retrieved"]["request_counts"]["total"] in (0, 5)
    cancelled_id = out["cancel"]["id"]
    assert out["cancel"]["status"] in ("cancelling", "cancelled")
    assert out["cancelled"]["status"] == "cancelled" and out["cancelled"]["id"] == cancelled_id
    # limit=1 pages: the iterator fetched the second page through `after`, newest first.
    assert out["listed"][:2] == [cancelled_id, created["id"]]
    assert out["missing"]["status"] == 404
    assert out["missing"]["error"]["message"].startswith("No such Batch object")
