"""The audit trail (JSON lines on `filedock.audit`), and no key ever appears in any log."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from tests.helpers import TEST_KEY, make_server
from tests.projects.conftest import make_tenant


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def audit_lines() -> Iterator[list[str]]:
    logger = logging.getLogger("filedock.audit")
    handler = _Lines()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines if line.startswith("{")]


def test_every_change_is_audited_with_request_id_project_and_key_prefix(
    client: TestClient, audit_lines: list[str]
) -> None:
    tenant = make_tenant(client, "audited")
    created = client.post(
        "/v1/files",
        files={"file": ("a.txt", b"abc")},
        data={"purpose": "user_data"},
        headers={**tenant.headers, "x-request-id": "req-create-1"},
    )
    file_id = created.json()["id"]
    client.delete(f"/v1/files/{file_id}", headers={**tenant.headers, "x-request-id": "req-del-1"})
    client.post(f"/v1/organization/projects/{tenant.project_id}", json={"name": "renamed"})
    client.delete(f"/v1/organization/projects/{tenant.project_id}/api_keys/{tenant.key_id}")
    client.post(f"/v1/organization/projects/{tenant.project_id}/archive")
    events = _events(audit_lines)
    by_name = {e["event"]: e for e in events}
    assert set(by_name) >= {
        "project.created",
        "key.created",
        "file.created",
        "file.deleted",
        "project.updated",
        "key.revoked",
        "project.archived",
    }
    upload = by_name["file.created"]
    assert upload["request_id"] == "req-create-1" and upload["file_id"] == file_id
    assert upload["project_id"] == upload["actor_project_id"] == tenant.project_id
    assert upload["key_prefix"] == tenant.key[:12] and upload["bytes"] == 3
    assert by_name["file.deleted"]["request_id"] == "req-del-1"
    assert by_name["project.created"]["key_prefix"] == "configured"  # the admin acting
    assert all(e["via"] == "http" and e["request_id"] for e in events)
    assert tenant.key not in "\n".join(audit_lines)
    assert TEST_KEY not in "\n".join(audit_lines)


@pytest.mark.live
def test_keys_never_appear_in_the_server_log(tmp_path: Path) -> None:
    # Debug level: access log and everything else on, the worst case for leaks.
    server = make_server(tmp_path / "data", env={"FILEDOCK_LOG_LEVEL": "debug"}).start()
    secrets: list[str] = [TEST_KEY]
    try:
        admin_headers = {"Authorization": f"Bearer {TEST_KEY}"}
        with httpx.Client(base_url=server.url, headers=admin_headers, timeout=30) as admin:
            tenant = make_tenant(admin, "logs")
            secrets.append(tenant.key)
            member = {"Authorization": f"Bearer {tenant.key}"}
            made = admin.post(
                "/v1/files",
                files={"file": ("a.jsonl", b"{}\n")},
                data={"purpose": "batch"},
                headers=member,
            )
            assert made.status_code == 200
            admin.get(f"/v1/files/{made.json()['id']}/content", headers=member)
            admin.delete(f"/v1/files/{made.json()['id']}", headers=member)
            wrong = tenant.key[:-1] + ("A" if tenant.key[-1] != "A" else "B")
            secrets.append(wrong)
            refused = admin.get("/v1/files", headers={"Authorization": f"Bearer {wrong}"})
            assert refused.status_code == 401
            admin.get("/v1/files", headers={**member, "OpenAI-Project": "proj_other"})
            admin.delete(f"/v1/organization/projects/{tenant.project_id}/api_keys/{tenant.key_id}")
            assert admin.get("/v1/files", headers=member).status_code == 401
    finally:
        server.stop()
    log = server.log()
    events = [json.loads(line) for line in log.splitlines() if line.startswith('{"ts"')]
    names = [e["event"] for e in events]
    for expected in ("project.created", "key.created", "file.created", "file.deleted"):
        assert expected in names, log
    assert "key.revoked" in names
    for secret in secrets:
        assert secret not in log
        assert secret[12:] not in log  # not even the part after the listed prefix
