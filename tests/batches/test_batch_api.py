"""The Batch API in process: create, retrieve, list, cancel, and a batch run end to end."""

from __future__ import annotations

from tests.batches.conftest import (
    AppFactory,
    create,
    file_lines,
    jsonl,
    request_line,
    upload,
    wait_for,
)
from tests.batches.stub_engine import StubEngine

BATCH_KEYS = [
    "id",
    "object",
    "endpoint",
    "model",
    "errors",
    "input_file_id",
    "completion_window",
    "status",
    "output_file_id",
    "error_file_id",
    "created_at",
    "in_progress_at",
    "expires_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
    "request_counts",
    "usage",
    "metadata",
]


def test_a_batch_runs_to_completed(make_client: AppFactory, stub: StubEngine) -> None:
    client = make_client()
    ids = [f"req-{i}" for i in range(25)]
    file_id = upload(client, jsonl([request_line(c) for c in ids]))
    created = create(client, file_id, metadata={"team": "a"})
    assert list(created) == BATCH_KEYS
    assert created["status"] == "validating"
    assert created["id"].startswith("batch_") and len(created["id"]) == 6 + 32
    assert created["expires_at"] == created["created_at"] + 86400
    assert created["metadata"] == {"team": "a"}

    done = wait_for(client, created["id"])
    assert done["status"] == "completed", done
    assert list(done) == BATCH_KEYS
    assert done["request_counts"] == {"total": 25, "completed": 25, "failed": 0}
    assert done["model"] == "stub-model"
    assert done["error_file_id"] is None
    assert done["usage"] == {
        "input_tokens": 125,
        "input_tokens_details": {"cached_tokens": 25},
        "output_tokens": 50,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 175,
    }
    for stamp in ("in_progress_at", "finalizing_at", "completed_at"):
        assert done[stamp] is not None
    lines = file_lines(client, done["output_file_id"])
    assert [line["custom_id"] for line in lines] == ids
    first = lines[0]
    assert list(first) == ["id", "custom_id", "response", "error"]
    assert first["id"].startswith("batch_req_")
    assert first["error"] is None
    assert first["response"]["status_code"] == 200
    assert first["response"]["request_id"].startswith("req_stub_")
    assert first["response"]["body"]["choices"][0]["message"]["content"] == "echo req-0"
    meta = client.get(f"/v1/files/{done['output_file_id']}").json()
    assert meta["purpose"] == "batch_output"
    assert meta["filename"] == f"{done['id']}_output.jsonl"
    # The engine got each request once, with the engine key, at <engine url>/chat/completions.
    assert stub.counts() == {c: 1 for c in ids}
    assert {r.path for r in stub.received} == {"/v1/chat/completions"}
    assert {r.headers["Authorization"] for r in stub.received} == {"Bearer engine-secret"}
