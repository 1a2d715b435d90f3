"""GET /v1/files extensions the dashboard uses (`status`, `search`, `sort`), the `openai-project`
response header, and that the official SDK neither sends nor is confused by any of them."""

from __future__ import annotations

from openai import OpenAI
from starlette.testclient import TestClient

from tests.helpers import TEST_KEY


def _upload(client: TestClient, name: str, body: bytes, purpose: str = "user_data") -> str:
    r = client.post("/v1/files", files={"file": (name, body)}, data={"purpose": purpose})
    assert r.status_code == 200, r.text
    return str(r.json()["id"])


def test_search_status_and_sort(client: TestClient) -> None:
    a = _upload(client, "Quarterly-Report.txt", b"aaaa")
    b = _upload(client, "notes.txt", b"b")
    c = _upload(client, "report_draft.md", b"cc")
    bad = _upload(client, "bad.jsonl", b"not json\n", purpose="batch")

    found = client.get(
        "/v1/files", params={"search": "report", "sort": "filename", "order": "asc"}
    ).json()
    assert [f["id"] for f in found["data"]] == [a, c]  # "Q" < "r" in binary order
    assert found["object"] == "list" and found["first_id"] == a and found["last_id"] == c
    assert [f["id"] for f in client.get("/v1/files", params={"search": b}).json()["data"]] == [b]

    by_size = client.get("/v1/files", params={"sort": "bytes", "order": "desc", "limit": 2}).json()
    assert [f["id"] for f in by_size["data"]] == [bad, a] and by_size["has_more"] is True
    rest = client.get(
        "/v1/files", params={"sort": "bytes", "order": "desc", "after": a, "limit": 10}
    ).json()
    assert [f["id"] for f in rest["data"]] == [c, b] and rest["has_more"] is False

    # Processing runs in the background: poll the file until it failed.
    for _ in range(200):
        if client.get(f"/v1/files/{bad}").json()["status"] == "error":
            break
        client.portal.call(_tick)  # type: ignore[union-attr]
    errors = client.get("/v1/files", params={"status": "error"}).json()["data"]
    assert [f["id"] for f in errors] == [bad]


async def _tick() -> None:
    import anyio

    await anyio.sleep(0.02)


def test_bad_extension_values_are_openai_errors(client: TestClient) -> None:
    r = client.get("/v1/files", params={"status": "done"})
    assert r.status_code == 400
    assert r.json()["error"] == {
        "message": "'done' is not one of ['uploaded', 'processed', 'error'] - 'status'",
        "type": "invalid_request_error",
        "param": "status",
        "code": None,
    }
    r = client.get("/v1/files", params={"sort": "owner"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "sort"
    r = client.get("/v1/files", params={"search": "x" * 201})
    assert r.status_code == 400 and r.json()["error"]["param"] == "search"


def test_responses_name_the_keys_project(client: TestClient) -> None:
    r = client.get("/v1/files")
    assert r.headers["openai-project"] == "proj_default"


def test_the_official_sdk_still_lists_and_pages(client: TestClient) -> None:
    ids = [_upload(client, f"f{i}.txt", b"x") for i in range(3)]
    sdk = OpenAI(base_url="http://testserver/v1", api_key=TEST_KEY, http_client=client)
    assert [f.id for f in sdk.files.list(limit=1)] == ids[::-1]  # auto-pagination
    raw = sdk.files.with_raw_response.list()
    assert raw.headers["openai-project"] == "proj_default"
    narrowed = sdk.files.list(extra_query={"search": "f1"})
    assert [f.id for f in narrowed.data] == [ids[1]]
