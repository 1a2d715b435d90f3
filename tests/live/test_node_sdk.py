"""The official Node SDK (npm `openai`) against a live server: file part first, names, paging."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import TEST_KEY, ServerProcess
from tests.services import announce

NODE_SDK_VERSION = "7.57.0"
SCRIPT = Path(__file__).with_name("node") / "files_roundtrip.cjs"
CACHE = Path(os.environ.get("FILEDOCK_TEST_CACHE", Path.home() / ".cache" / "filedock-tests"))

pytestmark = pytest.mark.live


def node_sdk_dir() -> Path:
    """Install the Node SDK once into a cache folder (npm registry), reuse it afterwards."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are required for the Node SDK test under CI")
        pytest.skip("node/npm not installed")
    target = CACHE / f"node-openai-{NODE_SDK_VERSION}"
    if not (target / "node_modules" / "openai" / "package.json").exists():
        announce(
            f"the official Node SDK (npm openai@{NODE_SDK_VERSION})",
            str(target),
            "the Node SDK test talks to a live server with it",
        )
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--silent",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(target),
                f"openai@{NODE_SDK_VERSION}",
            ],
            check=True,
            timeout=300,
        )
    return target


def test_node_sdk_roundtrip(live_server: ServerProcess, tmp_path: Path) -> None:
    sdk = node_sdk_dir()
    result = subprocess.run(
        ["node", str(SCRIPT), live_server.base_url, TEST_KEY, str(tmp_path)],
        env={**os.environ, "NODE_PATH": str(sdk / "node_modules")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    created = out["created"]
    assert created["object"] == "file" and created["id"].startswith("file-")
    assert created["filename"] == "training_data.jsonl"
    assert created["purpose"] == "fine-tune"
    assert out["retrieved"]["id"] == created["id"]
    assert out["content"].startswith('{"messages"')
    assert out["named"]["filename"] == 'résumé "v2".txt'
    assert out["named"]["expires_at"] == out["named"]["created_at"] + 3600
    assert created["id"] in out["listed"] and out["named"]["id"] in out["listed"]
    assert len(out["listed"]) == len(set(out["listed"]))
    assert out["deleted"] == {"id": created["id"], "object": "file", "deleted": True}
    assert out["missing"]["status"] == 404
    assert out["missing"]["error"]["message"] == f"No such File object: {created['id']}"
