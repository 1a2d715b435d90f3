"""Test helpers shared by every suite: a real `filedock serve` process on a free loopback port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

TEST_KEY = "sk-test-filedock-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    """A `python -m filedock serve` child process; tests stop() every process they start."""

    data_dir: Path
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    extra_args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 30.0) -> ServerProcess:
        # The child keeps its own copy of the log descriptor; ours is closed at once.
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "filedock",
                    "serve",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                    *self.extra_args,
                ],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"filedock serve exited early:\n{self.log()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"filedock serve did not become healthy:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait; kill if it does not end. Returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        """SIGKILL: a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def make_server(
    data_dir: Path,
    *,
    api_key: str = TEST_KEY,
    env: Mapping[str, str] | None = None,
    extra_args: list[str] | None = None,
) -> ServerProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FILEDOCK_")}
    full_env.update({"FILEDOCK_API_KEY": api_key, "FILEDOCK_LOG_LEVEL": "warning"})
    full_env.update(env or {})
    return ServerProcess(
        data_dir=data_dir,
        port=free_port(),
        env=full_env,
        log_path=data_dir / "server.log",
        extra_args=extra_args or [],
    )


@contextlib.contextmanager
def batch_server(data_dir: Path, engine_url: str, **env: str) -> Iterator[ServerProcess]:
    """A live `filedock serve` whose default engine is `engine_url`, looking for batch work often
    (every 0.05 s) and giving cancelled requests 0.2 s of grace; `env` adds or overrides."""
    server = make_server(
        data_dir,
        env={
            "FILEDOCK_ENGINE_URL": engine_url,
            "FILEDOCK_BATCH_POLL_SECONDS": "0.05",
            "FILEDOCK_BATCH_CANCEL_GRACE_SECONDS": "0.2",
            **env,
        },
    ).start()
    try:
        yield server
    finally:
        server.stop()
