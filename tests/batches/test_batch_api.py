"""The Batch API in process: create, retrieve, list, cancel, and a batch run end to end."""

from __future__ import annotations

from openai.types import Batch as SdkBatch

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
    SdkBatch.model_validate(done, strict=True)
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


def test_create_refuses_bad_requests_with_the_envelope(make_client: AppFactory) -> None:
    client = make_client()
    file_id = upload(client, jsonl([request_line("a")]))
    good = {
        "input_file_id": file_id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    }
    cases = [
        ({k: v for k, v in good.items() if k != "input_file_id"}, 400, "input_file_id"),
        ({**good, "endpoint": "/v1/images/generations"}, 400, "endpoint"),
        ({**good, "completion_window": "48h"}, 400, "completion_window"),
        ({**good, "metadata": {f"k{i}": "v" for i in range(17)}}, 400, "metadata"),
        ({**good, "metadata": {"k": "v" * 513}}, 400, "metadata.k"),
        (
            {**good, "output_expires_after": {"anchor": "created_at", "seconds": 60}},
            400,
            "output_expires_after.seconds",
        ),
        (
            {**good, "output_expires_after": {"anchor": "now", "seconds": 3600}},
            400,
            "output_expires_after.anchor",
        ),
        ({**good, "colour": "blue"}, 400, "colour"),
        ({**good, "input_file_id": "file-nope"}, 404, "id"),
    ]
    for body, status, param in cases:
        response = client.post("/v1/batches", json=body)
        assert response.status_code == status, (body, response.text)
        error = response.json()["error"]
        assert list(error) == ["message", "type", "param", "code"]
        assert error["type"] == "invalid_request_error" and error["param"] == param, error
    not_json = client.post(
        "/v1/batches", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert not_json.status_code == 400
    other = client.post(
        "/v1/files", files={"file": ("a.jsonl", b"{}\n")}, data={"purpose": "user_data"}
    ).json()["id"]
    wrong = client.post("/v1/batches", json={**good, "input_file_id": other})
    assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "input_file_id"
    assert client.get("/v1/batches").json()["data"] == []


def test_unknown_batches_are_404(make_client: AppFactory) -> None:
    client = make_client()
    for response in (
        client.get("/v1/batches/batch_nope"),
        client.post("/v1/batches/batch_nope/cancel"),
    ):
        assert response.status_code == 404
        assert response.json() == {
            "error": {
                "message": "No such Batch object: batch_nope",
                "type": "invalid_request_error",
                "param": "batch_id",
                "code": None,
            }
        }


def test_list_is_newest_first_and_pages(make_client: AppFactory) -> None:
    client = make_client()
    file_id = upload(client, jsonl([request_line("a")]))
    ids = [create(client, file_id)["id"] for _ in range(5)]  # all within about one second
    listed = client.get("/v1/batches").json()
    assert list(listed) == ["object", "data", "first_id", "last_id", "has_more"]
    assert [b["id"] for b in listed["data"]] == ids[::-1]
    assert (listed["first_id"], listed["last_id"], listed["has_more"]) == (ids[4], ids[0], False)
    page = client.get("/v1/batches", params={"limit": 2}).json()
    assert [b["id"] for b in page["data"]] == [ids[4], ids[3]] and page["has_more"]
    page = client.get("/v1/batches", params={"limit": 2, "after": ids[3]}).json()
    assert [b["id"] for b in page["data"]] == [ids[2], ids[1]] and page["has_more"]
    page = client.get("/v1/batches", params={"limit": 2, "after": ids[1]}).json()
    assert [b["id"] for b in page["data"]] == [ids[0]] and not page["has_more"]
    for bad in ({"limit": 0}, {"limit": 101}, {"limit": "x"}, {"after": "batch_nope"}):
        response = client.get("/v1/batches", params=bad)
        assert response.status_code == 400, bad
    for batch in listed["data"]:
        SdkBatch.model_validate(batch, strict=True)


def test_cancel_rules(make_client: AppFactory) -> None:
    client = make_client()
    file_id = upload(client, jsonl([request_line("a")]))
    batch = create(client, file_id)
    done = wait_for(client, batch["id"])
    assert done["status"] == "completed"
    refused = client.post(f"/v1/batches/{batch['id']}/cancel")
    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "Cannot cancel a batch with status 'completed'."
