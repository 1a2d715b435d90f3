"""Fixtures for the projects suite: an admin client plus helpers to make projects and keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.testclient import TestClient


@dataclass
class Tenant:
    """A project and one member key of it, as the admin API made them."""

    project_id: str
    key: str
    key_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def make_tenant(client: Any, name: str, **limits: Any) -> Tenant:
    """Create a project (with optional limits) and a member key through the admin API.

    `client` is a TestClient or an httpx.Client already authenticated with an admin key.
    """
    created = client.post("/v1/organization/projects", json={"name": name, **limits})
    assert created.status_code == 200, created.text
    project_id = created.json()["id"]
    key = client.post(f"/v1/organization/projects/{project_id}/api_keys", json={"name": "member"})
    assert key.status_code == 200, key.text
    return Tenant(project_id, key.json()["value"], key.json()["id"])


def upload(client: TestClient, tenant: Tenant, content: bytes, purpose: str = "user_data") -> Any:
    response = client.post(
        "/v1/files",
        files={"file": ("data.jsonl", content)},
        data={"purpose": purpose},
        headers=tenant.headers,
    )
    assert response.status_code == 200, response.text
    return response.json()
