"""The isolation matrix: one project never sees, changes or learns about another's files."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from starlette.testclient import TestClient

from filedock.models import UPLOAD_PURPOSES
from tests.projects.conftest import Tenant, make_tenant, upload

# Every endpoint that addresses one object of a project. `{file_id}` is replaced by project A's
# file id (asked for by project B) and by a well-formed id that exists nowhere; both answers must
# be the same 404. New endpoints are one row each (a new placeholder also needs an entry in
# TARGETS below).
BY_ID: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("retrieve", "GET", "/v1/files/{file_id}", None),
    ("content", "GET", "/v1/files/{file_id}/content", None),
    ("content range", "GET", "/v1/files/{file_id}/content", {"headers": {"Range": "bytes=0-1"}}),
    ("report", "GET", "/v1/files/{file_id}/report", None),
    ("delete", "DELETE", "/v1/files/{file_id}", None),
    ("usage", "GET", "/v1/organization/projects/{project_id}/usage", None),
    ("add part", "POST", "/v1/uploads/{upload_id}/parts", {"files": {"data": ("p", b"x")}}),
    ("complete", "POST", "/v1/uploads/{upload_id}/complete", {"json": {"part_ids": []}}),
    ("cancel", "POST", "/v1/uploads/{upload_id}/cancel", None),
]


def _pending_upload(client: TestClient, tenant: Tenant) -> str:
    body = {"filename": "u.bin", "purpose": "user_data", "bytes": 10, "mime_type": "x/y"}
    created = client.post("/v1/uploads", json=body, headers=tenant.headers)
    assert created.status_code == 200, created.text
    upload_id: str = created.json()["id"]
    return upload_id


# How to make, in project A, the object a placeholder names, and a same-shaped id that is nowhere.
TARGETS: dict[str, tuple[Callable[[TestClient, Tenant], str], str]] = {
    "file_id": (lambda c, t: upload(c, t, b'{"a": 1}\n')["id"], "file-" + "Z" * 22),
    "project_id": (lambda c, t: t.project_id, "proj_" + "Z" * 24),
    "upload_id": (_pending_upload, "upload_" + "0" * 32),
}

LIST_QUERIES: list[dict[str, str]] = [
    {},
    *({"purpose": p} for p in UPLOAD_PURPOSES),
    {"limit": "1"},
    {"limit": "10000"},
    {"order": "asc"},
    {"order": "desc"},
    {"order": "asc", "limit": "1"},
]


@pytest.fixture
def tenants(client: TestClient) -> tuple[Tenant, Tenant, Tenant]:
    return make_tenant(client, "A"), make_tenant(client, "B"), make_tenant(client, "C (empty)")


def _fill(path: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    return path


@pytest.mark.parametrize(("name", "method", "path", "extra"), BY_ID, ids=[r[0] for r in BY_ID])
def test_another_projects_id_is_exactly_a_missing_id(
    client: TestClient,
    tenants: tuple[Tenant, Tenant, Tenant],
    name: str,
    method: str,
    path: str,
    extra: dict[str, Any] | None,
) -> None:
    a, b, _ = tenants
    names = [n for n in TARGETS if "{" + n + "}" in path]
    real = {n: TARGETS[n][0](client, a) for n in names}
    missing = {n: TARGETS[n][1] for n in names}
    kwargs = dict(extra or {})
    headers = {**kwargs.pop("headers", {}), **b.headers}

    crossed = client.request(method, _fill(path, real), headers=headers, **kwargs)
    nowhere = client.request(method, _fill(path, missing), headers=headers, **kwargs)

    assert crossed.status_code == 404, crossed.text
    assert nowhere.status_code == 404, nowhere.text
    body = crossed.text
    for n in names:
        body = body.replace(real[n], missing[n])
    assert body == nowhere.text  # same message, same param, same code
    assert crossed.headers["content-type"] == nowhere.headers["content-type"]
    # ... and A's object is untouched: A still reads it.
    for n in names:
        if n == "file_id":
            assert client.get(f"/v1/files/{real[n]}", headers=a.headers).status_code == 200
        if n == "upload_id":  # still pending: A adds a part to it
            part = client.post(
                f"/v1/uploads/{real[n]}/parts", files={"data": ("p", b"y")}, headers=a.headers
            )
            assert part.status_code == 200, part.text


def test_lists_show_only_own_files_with_every_filter(
    client: TestClient, tenants: tuple[Tenant, Tenant, Tenant]
) -> None:
    a, b, c = tenants
    a_ids = {upload(client, a, b'{"a": 1}\n', purpose)["id"] for purpose in UPLOAD_PURPOSES[:3]}
    b_id = upload(client, b, b'{"b": 1}\n', "batch")["id"]
    own_list = client.get("/v1/files", headers=a.headers).json()["data"]
    assert {f["id"] for f in own_list} == a_ids  # B's upload went to B only
    for query in LIST_QUERIES:
        for tenant, own in ((b, {b_id}), (c, set())):
            listed = client.get("/v1/files", params=query, headers=tenant.headers)
            assert listed.status_code == 200, (query, listed.text)
            ids = {f["id"] for f in listed.json()["data"]}
            assert not ids & a_ids, query
            assert ids <= own, query
            if query.get("purpose") in (None, "batch") and tenant is b:
                assert ids == own, query
            if tenant is c:
                assert listed.json() == {
                    "object": "list",
                    "data": [],
                    "has_more": False,
                    "first_id": None,
                    "last_id": None,
                }


def test_another_projects_id_as_list_cursor_is_a_missing_cursor(
    client: TestClient, tenants: tuple[Tenant, Tenant, Tenant]
) -> None:
    a, b, _ = tenants
    a_id = upload(client, a, b"{}\n")["id"]
    missing = "file-" + "Z" * 22
    for order in ("asc", "desc"):
        crossed = client.get("/v1/files", params={"after": a_id, "order": order}, headers=b.headers)
        nowhere = client.get(
            "/v1/files", params={"after": missing, "order": order}, headers=b.headers
        )
        assert crossed.status_code == nowhere.status_code == 400
        assert crossed.text.replace(a_id, missing) == nowhere.text


def test_openai_project_header(client: TestClient, tenants: tuple[Tenant, Tenant, Tenant]) -> None:
    a, b, _ = tenants
    matching = client.get("/v1/files", headers={**a.headers, "OpenAI-Project": a.project_id})
    assert matching.status_code == 200
    for claimed in (b.project_id, "proj_default", "proj_nonexistent"):
        mismatched = client.get("/v1/files", headers={**a.headers, "OpenAI-Project": claimed})
        assert mismatched.status_code == 401
        assert mismatched.json()["error"]["code"] == "mismatched_project"
        assert mismatched.json()["error"]["type"] == "invalid_request_error"
    # The check comes before the route: a mismatched upload stores nothing.
    refused = client.post(
        "/v1/files",
        files={"file": ("x.jsonl", b"{}\n")},
        data={"purpose": "batch"},
        headers={**a.headers, "OpenAI-Project": b.project_id},
    )
    assert refused.status_code == 401
    assert client.get("/v1/files", headers=a.headers).json()["data"] == []
