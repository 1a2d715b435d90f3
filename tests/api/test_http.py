"""Cross-cutting HTTP behaviour in process: x-request-id everywhere, 404/405 envelopes, /healthz."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

REQUEST_ID = re.compile(r"req_[0-9a-f]{32}")


def _envelope(response: object, status: int, message: str, code: str | None = None) -> None:
    assert response.status_code == status  # type: ignore[attr-defined]
    assert response.json() == {  # type: ignore[attr-defined]
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": None,
            "code": code,
        }
    }


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/files", 200),
        ("GET", "/v1/files?limit=0", 400),
        ("GET", "/v1/files/file-missing", 404),
        ("GET", "/v1/files/file-missing/content", 404),
        ("DELETE", "/v1/files/file-missing", 404),
        ("POST", "/v1/files", 400),
        ("GET", "/v1/nowhere", 404),
        ("GET", "/nowhere", 404),
        ("PATCH", "/v1/files", 405),
        ("GET", "/healthz", 200),
        ("GET", "/readyz", 200),
    ],
)
def test_every_response_has_a_request_id(
    client: TestClient, method: str, path: str, status: int
) -> None:
    response = client.request(method, path)
    assert response.status_code == status
    assert REQUEST_ID.fullmatch(response.headers["x-request-id"])


def test_request_id_on_auth_failure(client: TestClient) -> None:
    response = client.get("/v1/files", headers={"Authorization": "Bearer nope-nope-nope"})
    assert response.status_code == 401
    assert REQUEST_ID.fullmatch(response.headers["x-request-id"])


def test_request_ids_are_unique(client: TestClient) -> None:
    ids = {client.get("/v1/files").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


def test_sane_incoming_request_id_is_echoed(client: TestClient) -> None:
    response = client.get("/v1/files", headers={"x-request-id": "trace-42.abc:1"})
    assert response.headers["x-request-id"] == "trace-42.abc:1"


@pytest.mark.parametrize("incoming", ["has space", "x" * 200, "semi;colon", ""])
def test_odd_incoming_request_id_is_replaced(client: TestClient, incoming: str) -> None:
    response = client.get("/v1/files", headers={"x-request-id": incoming})
    assert REQUEST_ID.fullmatch(response.headers["x-request-id"])
    assert response.headers.get_list("x-request-id") == [response.headers["x-request-id"]]


def test_unknown_route_envelope(client: TestClient) -> None:
    _envelope(client.get("/v1/nowhere"), 404, "Invalid URL (GET /v1/nowhere)")
    _envelope(client.post("/v1/files/x/y/z"), 404, "Invalid URL (POST /v1/files/x/y/z)")


def test_unknown_route_needs_auth_under_v1(client: TestClient) -> None:
    response = client.get("/v1/nowhere", headers={"Authorization": ""})
    assert response.status_code == 401


def test_method_not_allowed_envelope(client: TestClient) -> None:
    response = client.patch("/v1/files")
    _envelope(response, 405, "Method not allowed (PATCH /v1/files)")
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    response = client.put("/v1/files/file-x/content")
    _envelope(response, 405, "Method not allowed (PUT /v1/files/file-x/content)")
    assert "GET" in response.headers["allow"]


def test_health_needs_no_key(client: TestClient) -> None:
    assert client.get("/healthz", headers={"Authorization": ""}).json() == {"status": "ok"}
    assert client.get("/readyz", headers={"Authorization": ""}).json() == {"status": "ready"}


def test_stainless_headers_are_ignored(client: TestClient) -> None:
    response = client.post(
        "/v1/files",
        files={"file": ("a.txt", b"x")},
        data={"purpose": "user_data"},
        headers={
            "X-Stainless-Raw-Response": "true",
            "X-Stainless-Lang": "python",
            "x-stainless-retry-count": "0",
            "x-stainless-read-timeout": "600",
            "OpenAI-Organization": "org-x",
            "OpenAI-Project": "proj_default",  # the key's own project (another is a 401)
        },
    )
    assert response.status_code == 200, response.text


def test_delete_with_json_content_type_and_no_body(client: TestClient) -> None:
    file_id = client.post(
        "/v1/files", files={"file": ("a.txt", b"x")}, data={"purpose": "user_data"}
    ).json()["id"]
    response = client.delete(f"/v1/files/{file_id}", headers={"Content-Type": "application/json"})
    assert response.json() == {"id": file_id, "object": "file", "deleted": True}


def test_list_page_shape(client: TestClient) -> None:
    empty = client.get("/v1/files").json()
    assert empty == {
        "object": "list",
        "data": [],
        "has_more": False,
        "first_id": None,
        "last_id": None,
    }


def test_unexpected_failure_is_a_500_envelope_with_request_id(client: TestClient) -> None:
    async def failing_retrieve_mock(*args: object, **kwargs: object) -> None:
        # A mock: no real component fails on demand like this.
        raise RuntimeError("simulated bug")

    client.app.state.components.files.retrieve_file = failing_retrieve_mock  # type: ignore[attr-defined]
    response = client.get("/v1/files/file-x", headers={"x-request-id": "trace-500"})
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "message": "The server had an error while processing your request.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }
    assert response.headers["x-request-id"] == "trace-500"
    assert response.headers["x-should-retry"] == "false"
    assert "simulated bug" not in response.text
