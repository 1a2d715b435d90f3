"""`filedock projects ...` and `filedock keys ...` through click's CliRunner on a real database."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from starlette.testclient import TestClient

from filedock.cli import main
from filedock.errors import StorageError
from filedock.settings import Settings
from filedock.web import create_app
from tests.helpers import free_port


def _cli(data: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, [*args, "--data-dir", str(data)], catch_exceptions=False)
    return result


def test_projects_and_keys_commands(tmp_path: Path) -> None:
    data = tmp_path / "data"
    made = _cli(data, "projects", "create", "Team A", "--quota", "1MB")
    assert made.exit_code == 0, made.output
    project_id = made.stdout.strip()
    assert project_id.startswith("proj_")
    trail = (data / "audit.log").read_text()  # CLI commands keep the audit trail in its log
    audited = [line for line in trail.splitlines() if '"event":"project.created"' in line]
    assert len(audited) == 1 and '"via":"cli"' in audited[0] and project_id in audited[0]

    listed = _cli(data, "projects", "list")
    assert listed.exit_code == 0
    assert "proj_default" in listed.stdout and project_id in listed.stdout
    assert "quota 1000000" in listed.stdout

    changed = _cli(data, "projects", "set-quota", project_id, "2MiB")
    assert changed.exit_code == 0 and f"quota {2 * 1024 * 1024}" in changed.stdout
    bad = CliRunner().invoke(
        main, ["projects", "set-quota", project_id, "lots", "--data-dir", str(data)]
    )
    assert bad.exit_code != 0 and "not a size" in bad.output

    key = _cli(data, "keys", "create", "--project", project_id, "--name", "ci")
    assert key.exit_code == 0
    secret = key.stdout.strip().splitlines()[0]
    assert secret.startswith("sk-fd-")
    admin = _cli(data, "keys", "create", "--admin", "--expires-in", "1h")
    admin_secret = admin.stdout.strip().splitlines()[0]
    missing = CliRunner().invoke(
        main, ["keys", "create", "--project", "proj_nope", "--data-dir", str(data)]
    )
    assert missing.exit_code != 0 and "No such project: proj_nope" in missing.output

    keys = _cli(data, "keys", "list", "--project", project_id)
    assert keys.exit_code == 0 and secret[:12] in keys.stdout and secret not in keys.stdout
    assert "member" in keys.stdout
    all_keys = _cli(data, "keys", "list").stdout
    assert "admin" in all_keys and admin_secret not in all_keys

    # The keys work against a server on the same data, with the right powers.
    settings = Settings(data_dir=data, sweep_interval_seconds=3600)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        member = {"Authorization": f"Bearer {secret}"}
        boss = {"Authorization": f"Bearer {admin_secret}"}
        assert client.get("/v1/files", headers=member).status_code == 200
        assert client.get("/v1/organization/projects", headers=member).status_code == 403
        assert client.get("/v1/organization/projects", headers=boss).status_code == 200
        stored = client.post(
            "/v1/files",
            files={"file": ("a.txt", b"hello")},
            data={"purpose": "user_data"},
            headers=member,
        )
        assert stored.status_code == 200

        shown = _cli(data, "projects", "show", project_id)
        assert shown.exit_code == 0
        assert "user_data\t1 files\t5 bytes" in shown.stdout and "used 5" in shown.stdout

        revoked = _cli(data, "keys", "revoke", secret[:12])
        assert revoked.exit_code == 0
        assert client.get("/v1/files", headers=member).status_code == 401

        deleted = _cli(data, "projects", "delete", project_id)
        assert deleted.exit_code == 0 and "archived" in deleted.stdout
        assert project_id not in _cli(data, "projects", "list").stdout
        assert project_id in _cli(data, "projects", "list", "--all").stdout
        refused = CliRunner().invoke(
            main, ["projects", "delete", "proj_default", "--data-dir", str(data)]
        )
        assert refused.exit_code != 0 and "cannot be archived" in refused.output


def test_admin_commands_work_while_the_blob_store_is_down(tmp_path: Path) -> None:
    """Keys and projects live in the database only: an unreachable S3 does not stop them."""
    closed = free_port()  # nothing listens here
    env = {
        "FILEDOCK_STORAGE_URL": "s3://filedock/blobs",
        "FILEDOCK_S3_ENDPOINT_URL": f"http://127.0.0.1:{closed}",
        "FILEDOCK_S3_ACCESS_KEY_ID": "test",
        "FILEDOCK_S3_SECRET_ACCESS_KEY": "test",
    }
    data = str(tmp_path / "data")

    def run(*args: str) -> Result:
        result = CliRunner().invoke(main, [*args, "--data-dir", data], env=env)
        assert result.exit_code == 0, result.output
        return result

    project_id = run("projects", "create", "offline").stdout.strip()
    secret = run("keys", "create", "--project", project_id).stdout.strip().splitlines()[0]
    assert secret[:12] in run("keys", "list").stdout
    assert project_id in run("projects", "list").stdout
    assert "offline" in run("projects", "show", project_id).stdout
    run("keys", "revoke", secret[:12])
    # The server itself does need the blob store: the same settings fail to start it.
    settings = Settings.from_env(env, data_dir=tmp_path / "data")
    with pytest.raises(StorageError, match="cannot reach"), TestClient(create_app(settings)):
        pass
