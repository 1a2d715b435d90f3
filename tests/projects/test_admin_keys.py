"""Admin API (admin keys only), key revocation and expiry, archiving, the bootstrap admin key."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from filedock.clock import FakeClock, SystemClock
from filedock.metadata.factory import metadata_store_for_url
from filedock.services.keys import ApiKeys
from tests.helpers import make_server
from tests.projects.conftest import make_tenant, upload

ADMIN_ROUTES = [
    ("GET", "/v1/organization/projects", None),
    ("POST", "/v1/organization/projects", {"name": "x"}),
    ("GET", "/v1/organization/projects/{p}", None),
    ("POST", "/v1/organization/projects/{p}", {"name": "renamed"}),
    ("GET", "/v1/organization/projects/{p}/api_keys", None),
    ("POST", "/v1/organization/projects/{p}/api_keys", {"name": "k"}),
    ("GET", "/v1/organization/projects/{p}/api_keys/{k}", None),
    ("DELETE", "/v1/organization/projects/{p}/api_keys/{k}", None),
    ("POST", "/v1/organization/projects/{p}/archive", None),
]


def test_admin_routes_refuse_member_keys_and_serve_admin_keys(client: TestClient) -> None:
    member = make_tenant(client, "members")
    victim = make_tenant(client, "victim")
    for method, path, body in ADMIN_ROUTES:
        url = path.format(p=victim.project_id, k=victim.key_id)
        refused = client.request(method, url, json=body, headers=member.headers)
        assert refused.status_code == 403, (url, refused.text)
        assert refused.json()["error"]["code"] == "insufficient_permissions"
    # Nothing changed: the victim's key still works and the project is active.
    assert client.get("/v1/files", headers=victim.headers).status_code == 200
    for method, path, body in ADMIN_ROUTES:
        url = path.format(p=victim.project_id, k=victim.key_id)
        served = client.request(method, url, json=body)  # the configured admin key
        assert served.status_code == 200, (url, served.text)
    assert client.get("/v1/files", headers=victim.headers).status_code == 401


def test_admin_key_made_through_the_api_administers(client: TestClient) -> None:
    other = make_tenant(client, "ops")
    made = client.post(
        f"/v1/organization/projects/{other.project_id}/api_keys",
        json={"name": "ops admin", "role": "admin"},
    ).json()
    assert made["role"] == "admin" and made["value"].startswith("sk-fd-")
    assert made["redacted_value"] == made["value"][:12] + "..."
    headers = {"Authorization": f"Bearer {made['value']}"}
    listed = client.get("/v1/organization/projects", headers=headers)
    assert listed.status_code == 200
    assert other.project_id in [p["id"] for p in listed.json()["data"]]
    # The secret is never returned again.
    again = client.get(f"/v1/organization/projects/{other.project_id}/api_keys/{made['id']}")
    assert "value" not in again.json() and made["value"] not in again.text


def test_project_objects_and_limits(client: TestClient) -> None:
    created = client.post(
        "/v1/organization/projects",
        json={"name": "p", "storage_quota_bytes": 5000, "max_requests_per_1_minute": 7},
    ).json()
    assert list(created)[:6] == ["id", "object", "name", "created_at", "archived_at", "status"]
    assert created["object"] == "organization.project" and created["status"] == "active"
    assert created["id"].startswith("proj_") and len(created["id"]) == 29
    assert created["storage_quota_bytes"] == 5000
    assert created["max_requests_per_1_minute"] == 7
    reset = client.post(
        f"/v1/organization/projects/{created['id']}", json={"storage_quota_bytes": None}
    ).json()
    assert reset["storage_quota_bytes"] == 2_500_000_000_000 and reset["name"] == "p"
    for bad, param in (
        ({}, "name"),
        ({"name": "x", "color": "red"}, "color"),
        ({"name": "x", "storage_quota_bytes": -1}, "storage_quota_bytes"),
        ({"name": "x", "storage_quota_bytes": "lots"}, "storage_quota_bytes"),
    ):
        refused = client.post("/v1/organization/projects", json=bad)
        assert refused.status_code == 400 and refused.json()["error"]["param"] == param
    missing = client.get("/v1/organization/projects/proj_nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "No such project: proj_nope"
    default = client.post("/v1/organization/projects/proj_default/archive")
    assert default.status_code == 400


def test_list_projects_paginates(client: TestClient) -> None:
    made = [make_tenant(client, f"p{i}").project_id for i in range(3)]
    seen: list[tuple[int, str]] = []
    after = None
    while True:
        params = {"limit": "2", **({"after": after} if after else {})}
        page = client.get("/v1/organization/projects", params=params).json()
        assert len(page["data"]) <= 2
        seen += [(p["created_at"], p["id"]) for p in page["data"]]
        if not page["has_more"]:
            break
        after = page["last_id"]
    assert seen == sorted(seen)  # by creation, then id; no repeats, no gaps
    assert sorted(i for _, i in seen) == sorted(["proj_default", *made])


def test_revocation_takes_effect_on_the_next_request(client: TestClient) -> None:
    tenant = make_tenant(client, "r")
    file = upload(client, tenant, b"{}\n")
    assert client.get(f"/v1/files/{file['id']}", headers=tenant.headers).status_code == 200
    deleted = client.delete(
        f"/v1/organization/projects/{tenant.project_id}/api_keys/{tenant.key_id}"
    )
    assert deleted.json() == {
        "object": "organization.project.api_key.deleted",
        "id": tenant.key_id,
        "deleted": True,
    }
    refused = client.get(f"/v1/files/{file['id']}", headers=tenant.headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert tenant.key not in refused.text
    # A key id of another project is 404 for that project's path.
    other = make_tenant(client, "o")
    crossed = client.delete(
        f"/v1/organization/projects/{tenant.project_id}/api_keys/{other.key_id}"
    )
    assert crossed.status_code == 404
    assert client.get("/v1/files", headers=other.headers).status_code == 200


def test_key_expiry_takes_effect_on_the_next_request(
    clocked_client: TestClient, clock: FakeClock
) -> None:
    client = clocked_client
    tenant = make_tenant(client, "e")
    made = client.post(
        f"/v1/organization/projects/{tenant.project_id}/api_keys",
        json={"name": "short", "expires_at": clock.now() + 2},
    ).json()
    headers = {"Authorization": f"Bearer {made['value']}"}
    assert client.get("/v1/files", headers=headers).status_code == 200
    clock.advance(1)
    assert client.get("/v1/files", headers=headers).status_code == 200
    clock.advance(made["expires_at"] - clock.time())  # the very second it expires
    expired = client.get("/v1/files", headers=headers)
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "invalid_api_key"
    past = client.post(
        f"/v1/organization/projects/{tenant.project_id}/api_keys",
        json={"expires_at": clock.now() - 1},
    )
    assert past.status_code == 400 and past.json()["error"]["param"] == "expires_at"


def test_archiving_revokes_every_key_of_the_project(client: TestClient) -> None:
    tenant = make_tenant(client, "gone")
    assert client.get("/v1/files", headers=tenant.headers).status_code == 200
    archived = client.post(f"/v1/organization/projects/{tenant.project_id}/archive").json()
    assert archived["status"] == "archived" and archived["archived_at"] is not None
    assert client.get("/v1/files", headers=tenant.headers).status_code == 401
    listed = client.get("/v1/organization/projects").json()["data"]
    assert tenant.project_id not in [p["id"] for p in listed]
    listed = client.get("/v1/organization/projects", params={"include_archived": "true"}).json()
    assert tenant.project_id in [p["id"] for p in listed["data"]]
    refused = client.post(f"/v1/organization/projects/{tenant.project_id}/api_keys", json={})
    assert refused.status_code == 400


@pytest.mark.anyio
async def test_bootstrap_key_is_an_admin_key_of_the_default_project(tmp_path: Path) -> None:
    store = metadata_store_for_url(f"sqlite:///{tmp_path / 'm.sqlite3'}")
    await store.open()
    try:
        keys = ApiKeys(store, SystemClock())
        secret = await keys.ensure_bootstrap_key()
        assert secret is not None
        principal = await keys.authenticate(f"Bearer {secret}")
        assert principal.is_admin and principal.project_id == "proj_default"
        assert await keys.ensure_bootstrap_key() is None  # only when no key exists
        configured = ApiKeys(store, SystemClock(), "sk-configured-0123456789")
        assert (await configured.authenticate("Bearer sk-configured-0123456789")).is_admin
    finally:
        await store.close()


@pytest.mark.live
def test_first_serve_prints_an_admin_key_that_administers_over_http(tmp_path: Path) -> None:
    server = make_server(tmp_path / "data", api_key="").start()
    try:
        printed = [w for w in server.log().split() if w.startswith("sk-fd-")]
        assert len(printed) == 1, server.log()
        headers = {"Authorization": f"Bearer {printed[0]}"}
        made = httpx.post(
            server.base_url + "/organization/projects", json={"name": "first"}, headers=headers
        )
        assert made.status_code == 200, made.text
    finally:
        server.stop()
