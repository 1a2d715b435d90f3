"""The test suite's manners: an install is announced with one line that pytest does not hide, and
Swift listens on free ports, so two runs (or a developer's own services) never collide."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import SwiftServer

ROOT = Path(__file__).resolve().parent.parent


def test_announce_prints_one_line_past_output_capture(tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "from tests.services import announce\n\n"
        "def test_probe():\n"
        "    announce('a thing', '/some/where', 'a reason')\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(probe)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if "[filedock tests]" in line]
    assert lines == [
        "[filedock tests] installing a thing into /some/where (a reason); once, then cached"
    ]


@pytest.mark.s3
def test_swift_listens_on_free_ports(swift_server: SwiftServer) -> None:
    ports = [swift_server.proxy_port, *swift_server.ports.values()]
    assert len(set(ports)) == 4
    assert not {8080, 6200, 6201, 6202} & set(ports)
    for port in ports:  # each one is really Swift's now
        with socket.socket() as s, pytest.raises(OSError):
            s.bind(("127.0.0.1", port))
    bucket = swift_server.bucket()
    swift_server.client().put_object(Bucket=bucket, Key="k", Body=b"v")
    assert swift_server.client().get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"


def test_readme_says_what_ci_run_does() -> None:
    readme = " ".join((ROOT / "README.md").read_text().split())
    ci = (ROOT / ".ci" / "run").read_text()
    steps = {
        "pip install --quiet --upgrade pip": "upgrades pip",
        "pip install -e '.[dev]'": "runs the install command above",
        "bash scripts/install-browser.sh": "installs the browser (`scripts/install-browser.sh`",
        "python -m pytest": "runs the test command above",
    }
    for command, said in steps.items():
        assert command in ci, command
        assert said in readme, said
    assert "exactly these two commands" not in readme


def test_postgres_is_installed_as_the_readme_says(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """README: installed with apt-get when missing and running as root; else left alone.
    apt-get itself is replaced by a recording stub (a test cannot install packages at will)."""
    from tests import services

    readme = " ".join((ROOT / "README.md").read_text().split())
    said = "when they are missing and the suite runs as root, Debian's `postgresql` is installed"
    assert said in readme
    ran: list[list[str]] = []
    monkeypatch.setattr(services.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(services.subprocess, "run", lambda args, **kw: ran.append(list(args)))
    monkeypatch.setattr(services, "PYTEST_CONFIG", None)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(services.os, "geteuid", lambda: 1000)
    services._install_postgres()
    assert ran == []
    monkeypatch.setattr(services.os, "geteuid", lambda: 0)
    services._install_postgres()
    assert ran[-1][:4] == ["apt-get", "install", "-y", "-q"] and ran[-1][-1] == "postgresql"
    assert "installing Debian's postgresql package" in capsys.readouterr().err
