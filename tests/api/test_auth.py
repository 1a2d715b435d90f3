"""Authentication in process: missing, bad and revoked keys; `filedock keys` on one data dir."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from starlette.testclient import TestClient

from filedock.cli import main
from filedock.settings import Settings

REALM = 'Bearer realm="filedock"'


def _keys(settings: Settings, *args: str) -> Result:
    # A clean environment: only what the command line says.
    result = CliRunner().invoke(
        main, ["keys", *args, "--data-dir", str(settings.data_dir)], env={"FILEDOCK_API_KEY": ""}
    )
    return result


def _create_key(settings: Settings, name: str = "") -> str:
    result = _keys(settings, "create", "--name", name) if name else _keys(settings, "create")
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert secret.startswith("sk-fd-") and "\n" not in secret
    return secret


def _auth_error(response: object) -> dict[str, object]:
    assert response.status_code == 401  # type: ignore[attr-defined]
    assert response.headers["www-authenticate"] == REALM  # type: ignore[attr-defined]
    error: dict[str, object] = response.json()["error"]  # type: ignore[attr-defined]
    assert error["type"] == "invalid_request_error"
    assert error["param"] is None
    assert error["code"] == "invalid_api_key"
    return error


@pytest.mark.parametrize("path", ["/v1/files", "/v1/files/file-x", "/v1/files/file-x/content"])
def test_missing_key(client: TestClient, path: str) -> None:
    error = _auth_error(client.get(path, headers={"Authorization": ""}))
    assert str(error["message"]).startswith("You didn't provide an API key.")


def test_missing_key_on_upload(client: TestClient) -> None:
    response = client.post(
        "/v1/files",
        files={"file": ("a.txt", b"x")},
        data={"purpose": "user_data"},
        headers={"Authorization": ""},
    )
    _auth_error(response)
    assert client.get("/v1/files").json()["data"] == []


def test_bad_key_is_masked(client: TestClient) -> None:
    secret = "sk-not-a-real-key-1234567890"
    error = _auth_error(client.get("/v1/files", headers={"Authorization": f"Bearer {secret}"}))
    assert error["message"] == f"Incorrect API key provided: sk-{'*' * (len(secret) - 7)}7890."
    assert secret not in str(error["message"])


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "sk-no-scheme"])
def test_malformed_authorization(client: TestClient, header: str) -> None:
    _auth_error(client.get("/v1/files", headers={"Authorization": header}))


def test_scheme_is_case_insensitive(client: TestClient) -> None:
    token = client.headers["Authorization"].split(" ", 1)[1]
    assert client.get("/v1/files", headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_created_key_works_then_revoked_key_fails(client: TestClient, settings: Settings) -> None:
    secret = _create_key(settings, "ci")
    auth = {"Authorization": f"Bearer {secret}"}
    assert client.get("/v1/files", headers=auth).status_code == 200

    listed = _keys(settings, "list")
    assert listed.exit_code == 0, listed.output
    (line,) = listed.stdout.strip().splitlines()
    key_id, prefix, project, _, state, role, expires, name = line.split("\t")
    assert key_id.startswith("key_") and prefix == secret[:12] + "..."
    assert (project, state, role, expires, name) == (
        "proj_default",
        "active",
        "member",
        "expires -",
        "ci",
    )

    revoked = _keys(settings, "revoke", key_id)
    assert revoked.exit_code == 0, revoked.output
    assert key_id in revoked.stdout
    error = _auth_error(client.get("/v1/files", headers=auth))
    assert (
        error["message"]
        == f"Incorrect API key provided: {secret[:3]}{'*' * (len(secret) - 7)}{secret[-4:]}."
    )
    assert "revoked" in _keys(settings, "list").stdout


def test_revoke_by_prefix(client: TestClient, settings: Settings) -> None:
    first, second = _create_key(settings), _create_key(settings)
    assert _keys(settings, "revoke", first[:12]).exit_code == 0
    assert client.get("/v1/files", headers={"Authorization": f"Bearer {first}"}).status_code == 401
    assert client.get("/v1/files", headers={"Authorization": f"Bearer {second}"}).status_code == 200


def test_revoke_unknown_key(settings: Settings) -> None:
    result = _keys(settings, "revoke", "key_nope")
    assert result.exit_code != 0
    assert "No such API key: key_nope" in result.output


def test_keys_are_stored_hashed(client: TestClient, settings: Settings) -> None:
    secret = _create_key(settings)
    db_path: Path = settings.data_dir / "filedock.sqlite3"
    with sqlite3.connect(db_path) as db:
        rows = db.execute("SELECT * FROM api_keys").fetchall()
    assert rows
    assert secret not in repr(rows)
    assert db_path.read_bytes().find(secret.encode()) == -1


def test_settings_repr_masks_the_key(settings: Settings) -> None:
    assert settings.api_key not in repr(settings)
