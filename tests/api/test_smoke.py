from starlette.testclient import TestClient


def test_upload_retrieve_list_delete(client: TestClient) -> None:
    created = client.post(
        # user_data: no content checks, so the status cannot change between the calls below.
        "/v1/files",
        files={"file": ("a.jsonl", b'{"x": 1}\n')},
        data={"purpose": "user_data"},
    )
    assert created.status_code == 200, created.text
    body = created.json()
    assert list(body) == [
        "object",
        "id",
        "purpose",
        "filename",
        "bytes",
        "created_at",
        "expires_at",
        "status",
        "status_details",
    ]
    assert body["bytes"] == 9 and body["filename"] == "a.jsonl"
    assert client.get(f"/v1/files/{body['id']}").json() == body
    assert client.get(f"/v1/files/{body['id']}/content").content == b'{"x": 1}\n'
    assert client.get("/v1/files").json()["data"] == [body]
    deleted = client.delete(f"/v1/files/{body['id']}")
    assert deleted.json() == {"id": body["id"], "object": "file", "deleted": True}
    assert client.get(f"/v1/files/{body['id']}").status_code == 404
