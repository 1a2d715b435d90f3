"""docs/deploy.md's nginx site, run for real: the Debian `nginx` binary with that exact block (only
the listen and upstream addresses replaced) in front of two `filedock serve` processes sharing one
data folder. A 600 MiB upload is generated chunk by chunk (never held in memory) and must reach
filedock while the client is still sending (no request buffering); then a Range download and a
whole download come back through the proxy byte for byte."""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from filedock.client._common import file_fields, multipart_frame
from tests.helpers import TEST_KEY, ServerProcess, free_port, make_server
from tests.services import announce, unavailable

pytestmark = [pytest.mark.live, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NGINX = Path("/usr/sbin/nginx")
MiB = 1024 * 1024
SIZE = 600 * MiB
CHUNK = MiB
AUTH = {"Authorization": f"Bearer {TEST_KEY}"}


def chunk(i: int) -> bytes:
    """The i-th MiB of the upload: pseudo-random, the same every time it is asked for."""
    return random.Random(i).randbytes(CHUNK)


def expected_range(start: int, end: int) -> bytes:
    """Bytes start..end (inclusive) of the upload, rebuilt from the chunks they fall in."""
    out = b"".join(chunk(i) for i in range(start // CHUNK, end // CHUNK + 1))
    offset = start - (start // CHUNK) * CHUNK
    return out[offset : offset + end - start + 1]


def site_block() -> str:
    """The ```nginx block of docs/deploy.md that says it is tested here."""
    text = (ROOT / "docs" / "deploy.md").read_text()
    blocks = re.findall(r"```nginx\n(.*?)```", text, flags=re.S)
    (site,) = [b for b in blocks if "/etc/nginx/conf.d/filedock.conf" in b]
    return site


@pytest.fixture(scope="module")
def nginx_binary() -> Path:
    if not NGINX.exists():
        announce(
            "Debian's nginx package (scripts/install-nginx.sh)",
            "the system (apt-get)",
            "the reverse-proxy test runs the deploy guide's nginx site",
        )
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "install-nginx.sh")],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        if result.returncode != 0 or not NGINX.exists():
            unavailable(f"nginx could not be installed: {result.stderr[-2000:]}")
    return NGINX


@pytest.fixture(scope="module")
def backends(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    data = tmp_path_factory.mktemp("shared") / "data"
    env = {"FILEDOCK_MAX_FILE_BYTES": "700MiB"}
    servers = [make_server(data, env=env) for _ in range(2)]
    for s in servers:
        s.log_path = s.log_path.with_name(f"serve-{s.port}.log")
    try:
        for s in servers:
            s.start()
        yield servers
    finally:
        for s in servers:
            s.stop()


@pytest.fixture(scope="module")
def proxy(
    nginx_binary: Path, backends: list[ServerProcess], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """nginx on a free port with the documented site; yields its base URL."""
    root = tmp_path_factory.mktemp("nginx")
    port = free_port()
    site = site_block()
    upstream_line = "    server 127.0.0.1:8000;"
    assert upstream_line in site and "    listen 80;" in site
    site = site.replace(
        upstream_line, "\n".join(f"    server 127.0.0.1:{s.port};" for s in backends)
    ).replace("    listen 80;", f"    listen 127.0.0.1:{port};")
    temp = root / "temp"
    temp.mkdir()
    os.chmod(temp, 0o777)  # nginx's workers may run as an unprivileged user
    user = "user root root;\n" if os.geteuid() == 0 else ""
    conf = root / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\ndaemon off;\npid {root}/nginx.pid;\n"
        f"error_log {root}/error.log warn;\nevents {{ worker_connections 64; }}\n"
        f"http {{\n  access_log {root}/access.log;\n"
        f"  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n"
        f"  scgi_temp_path {temp}/scgi;\n{site}\n}}\n"
    )
    base = [str(nginx_binary), "-e", str(root / "error.log"), "-p", str(root), "-c", str(conf)]
    checked = subprocess.run([*base, "-t"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    with (root / "stderr.log").open("wb") as stderr:  # the child keeps its own descriptor
        process = subprocess.Popen(base, stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"nginx exited: {(root / 'stderr.log').read_text()}")
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError((root / "error.log").read_text())
            time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful stop of the nginx we started, by PID
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_documented_site_has_the_streaming_settings() -> None:
    site = site_block()
    for directive in (
        "proxy_request_buffering off;",
        "proxy_buffering off;",
        "proxy_http_version 1.1;",
        "client_max_body_size",
        "client_body_timeout",
        "proxy_read_timeout",
        "proxy_send_timeout",
    ):
        assert directive in site, directive


def test_600_mib_upload_and_range_download_stream_through_nginx(
    proxy: str, backends: list[ServerProcess]
) -> None:
    tmp_dir = backends[0].data_dir / "tmp"
    frame = multipart_frame(
        file_fields("user_data", None), "file", "big.bin", "application/octet-stream"
    )
    digest = hashlib.sha256()
    seen_midway: list[int] = []

    def body() -> Iterator[bytes]:
        yield frame.head
        for i in range(SIZE // CHUNK):
            if i == SIZE // CHUNK // 2:
                # Half sent: a streaming proxy has already passed most of it on to filedock,
                # whose temporary file grows as the bytes arrive. Wait (bounded) to see it.
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    written = sum(p.stat().st_size for p in tmp_dir.glob("*.part"))
                    if written >= 100 * MiB:
                        break
                    time.sleep(0.05)
                seen_midway.append(written)
            block = chunk(i)
            digest.update(block)
            yield block
        yield frame.tail

    headers = {**AUTH, "Content-Type": frame.content_type}
    headers["Content-Length"] = str(frame.content_length(SIZE))
    with httpx.Client(timeout=httpx.Timeout(120.0)) as http:
        r = http.post(proxy + "/v1/files", content=body(), headers=headers)
        assert r.status_code == 200, r.text
        created = r.json()
        assert created["bytes"] == SIZE and created["filename"] == "big.bin"
        assert seen_midway and seen_midway[0] >= 100 * MiB, (
            f"filedock had only {seen_midway} bytes at half-time: the proxy buffers the upload"
        )

        # A Range request across a chunk boundary, through the proxy.
        start, end = 300 * MiB - 10, 300 * MiB + 4095
        r = http.get(
            f"{proxy}/v1/files/{created['id']}/content",
            headers={**AUTH, "Range": f"bytes={start}-{end}"},
        )
        assert r.status_code == 206
        assert r.headers["content-range"] == f"bytes {start}-{end}/{SIZE}"
        assert r.content == expected_range(start, end)

        # The whole file, streamed back (hashed as it arrives, not held).
        back = hashlib.sha256()
        with http.stream("GET", f"{proxy}/v1/files/{created['id']}/content", headers=AUTH) as r:
            assert r.status_code == 200 and r.headers["content-length"] == str(SIZE)
            for block in r.iter_bytes(CHUNK):
                back.update(block)
        assert back.hexdigest() == digest.hexdigest()

        # Both servers behind the proxy share the folder: each one serves the file.
        for server in backends:
            meta = http.get(f"{server.base_url}/files/{created['id']}", headers=AUTH)
            assert meta.status_code == 200 and meta.json()["bytes"] == SIZE
