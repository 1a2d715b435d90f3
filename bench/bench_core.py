"""Core benchmark (issue 2): upload throughput against a floor, memory, and metadata latency.

In one run:
1. starts `filedock serve` and, on the same ASGI server (uvicorn + httptools + uvloop), a minimal
   streaming sink (bench/floor_sink.py: multipart parse + disk write, nothing else);
2. uploads the same 512 MiB file with curl to each, interleaved (one warm-up each discarded, then
   --runs runs each), and prints median MB/s, the ratio filedock/floor and filedock's VmHWM growth;
3. stores 10,000 small files, then prints retrieve and list?limit=100 p50/p99 with one keep-alive
   client, and retrieve req/s with 16 concurrent connections against GET /healthz on the same
   server (the empty-route baseline: same server and middleware, no key, no lookup), with wrk when
   installed, else a Python load generator, which competes with the server for the 2 cores and so
   understates both;
4. stops the server and times `filedock serve` from exec to the first 200 of an authenticated
   GET /v1/files on the now existing data folder (schema current, bootstrap key present).

Usage: python bench/bench_core.py [--size-mib 512] [--runs 5] [--files 10000] [--only upload,...]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import TEST_KEY, ServerProcess, free_port, make_server  # noqa: E402

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
PARTS = ("upload", "latency", "load", "cold")


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def curl_upload(url: str, path: Path, headers: dict[str, str]) -> float:
    """One upload with curl; returns MB/s (10^6 bytes per second) of the whole request."""
    args = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", url]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    args += ["-F", f"file=@{path}", "-F", "purpose=user_data"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout.split()
    if out[0] != "200":
        raise RuntimeError(f"upload failed with HTTP {out[0]}")
    return path.stat().st_size / float(out[1]) / 1e6


def start_floor(port: int, sink_dir: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, FLOOR_SINK_DIR=str(sink_dir), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.floor_sink:app",
            "--port",
            str(port),
            "--http",
            "httptools",
            "--loop",
            "uvloop",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=0.5)
            return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("floor sink did not start")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _rounded(values: list[float]) -> list[int]:
    return [round(v) for v in values]


def _latency(times: list[float]) -> str:
    return f"p50 {percentile(times, 0.5):.3f} ms  p99 {percentile(times, 0.99):.3f} ms"


def timed_requests(url: str, n: int) -> list[float]:
    """Sequential GETs on one keep-alive connection; per-request milliseconds.

    Uses the stdlib http.client: the lightest client at hand, so the figure is mostly the server's
    time, not the client's (httpx costs several hundred microseconds of CPU per request here).
    """
    parts = urllib.parse.urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    conn = http.client.HTTPConnection(parts.hostname, parts.port)
    times = []
    try:
        for i in range(n + 50):
            t0 = time.perf_counter()
            conn.request("GET", path, headers=AUTH)
            response = conn.getresponse()
            body = response.read()
            if i >= 50:
                times.append((time.perf_counter() - t0) * 1000)
            assert response.status == 200, body
    finally:
        conn.close()
    return times


def load_16(url: str, seconds: float) -> tuple[float, str]:
    if shutil.which("wrk"):
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                "-c16",
                f"-d{int(seconds)}s",
                "-H",
                f"Authorization: Bearer {TEST_KEY}",
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for line in out.splitlines():
            if line.startswith("Requests/sec:"):
                non2xx = [ln for ln in out.splitlines() if "Non-2xx" in ln]
                if non2xx:
                    raise RuntimeError(out)
                return float(line.split()[1]), "wrk -t2 -c16"
        raise RuntimeError(out)
    count = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        nonlocal count
        with httpx.Client(headers=AUTH) as client:
            while time.monotonic() < deadline:
                client.get(url).raise_for_status()
                with lock:
                    count += 1

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        for f in [pool.submit(worker) for _ in range(16)]:
            f.result()
    return count / seconds, "python threads (understates: shares the 2 cores)"


def cold_start(server: ServerProcess, runs: int) -> tuple[list[float], list[float]]:
    """Seconds from exec of `filedock serve` to its first 200 on GET /v1/files (same data), and
    the CPU seconds the server used until then (steadier than wall time on a shared machine)."""
    times, cpu = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        with server.log_path.open("ab") as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "filedock",
                    "serve",
                    "--port",
                    str(server.port),
                    "--data-dir",
                    str(server.data_dir),
                ],
                env=server.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"filedock serve exited early:\n{server.log()}")
                try:
                    response = httpx.get(server.base_url + "/files?limit=1", headers=AUTH)
                    if response.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.002)
            times.append(time.perf_counter() - t0)
            cpu.append(process_cpu(proc.pid))
        finally:
            proc.terminate()
            proc.wait()
    return times, cpu


def sha256_cpu(size: int) -> float:
    """CPU seconds sha256 takes over `size` bytes fed in 1 MiB blocks (what filedock adds to
    the floor's work: it hashes every upload)."""
    block = os.urandom(1024 * 1024)
    digest = hashlib.sha256()
    start = time.process_time()
    for _ in range(size // len(block)):
        digest.update(block)
    return time.process_time() - start


def bench_upload(server: ServerProcess, work: Path, size_mib: int, runs: int) -> None:
    big = work / "big.bin"
    with big.open("wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(1024 * 1024))
    floor_port = free_port()
    floor = start_floor(floor_port, work)
    try:
        print(f"# upload {size_mib} MiB with curl, {runs} runs each (+1 warm-up)")
        hwm_before = vm_hwm_kib(server.pid)
        fd_rates: list[float] = []
        floor_rates: list[float] = []
        cpu: dict[str, list[float]] = {"floor": [], "filedock": []}
        for run in range(runs + 1):
            f_cpu = process_cpu(floor.pid)
            f_rate = curl_upload(f"http://127.0.0.1:{floor_port}/", big, {})
            f_cpu = process_cpu(floor.pid) - f_cpu
            d_cpu = process_cpu(server.pid)
            d_rate = curl_upload(server.base_url + "/files", big, AUTH)
            d_cpu = process_cpu(server.pid) - d_cpu
            if run:
                floor_rates.append(f_rate)
                fd_rates.append(d_rate)
                cpu["floor"].append(f_cpu)
                cpu["filedock"].append(d_cpu)
            # keep the disk from filling with copies
            listing = httpx.get(server.base_url + "/files", headers=AUTH).json()["data"]
            for item in listing:
                httpx.delete(server.base_url + f"/files/{item['id']}", headers=AUTH)
        hwm_after = vm_hwm_kib(server.pid)
        big_size = big.stat().st_size
    finally:
        floor.terminate()
        floor.wait()
        big.unlink()
    floor_mb, fd_mb = statistics.median(floor_rates), statistics.median(fd_rates)
    print(f"floor (parse + write)   median {floor_mb:8.1f} MB/s  runs {_rounded(floor_rates)}")
    print(f"filedock POST /v1/files median {fd_mb:8.1f} MB/s  runs {_rounded(fd_rates)}")
    print(f"ratio filedock/floor    {fd_mb / floor_mb:.3f}   (target >= 0.95)")
    floor_cpu, fd_cpu = statistics.median(cpu["floor"]), statistics.median(cpu["filedock"])
    print(
        f"server CPU s per upload: floor {floor_cpu:.2f}, filedock {fd_cpu:.2f} "
        f"({fd_cpu / floor_cpu:.2f}x)"
    )
    sha = sha256_cpu(big_size)
    print(
        f"  of which sha256 (1 MiB blocks, this process): {sha:.2f} s; filedock - floor - sha256 = "
        f"{fd_cpu - floor_cpu - sha:+.2f} s"
    )
    growth = (hwm_after - hwm_before) / 1024
    print(
        f"filedock VmHWM growth   {growth:.1f} MiB ({hwm_before / 1024:.1f} -> "
        f"{hwm_after / 1024:.1f} MiB)   (target <= 16 MiB)"
    )


def store_small_files(server: ServerProcess, count: int) -> list[str]:
    print(f"# storing {count} small files")
    t0 = time.perf_counter()
    ids: list[str] = []

    def upload_some(n: int) -> list[str]:
        out = []
        with httpx.Client(headers=AUTH, base_url=server.base_url) as c:
            for i in range(n):
                r = c.post(
                    "/files",
                    files={"file": (f"f{i}.txt", b"hello %d" % i)},
                    data={"purpose": "user_data"},
                )
                r.raise_for_status()
                out.append(r.json()["id"])
        return out

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        chunks = [count // 8 + (1 if i < count % 8 else 0) for i in range(8)]
        for f in [pool.submit(upload_some, n) for n in chunks]:
            ids.extend(f.result())
    print(f"stored {len(ids)} files in {time.perf_counter() - t0:.1f} s")
    return ids


def bench_load(server: ServerProcess, target: str, seconds: float) -> None:
    empty, tool = load_16(server.url + "/healthz", seconds)
    rps, _ = load_16(server.base_url + f"/files/{target}", seconds)
    print(f"GET /healthz with 16 connections: {empty:.0f} req/s ({tool})")
    print(
        f"retrieve with 16 connections: {rps:.0f} req/s, {rps / empty:.2f}x /healthz "
        "(target >= 0.35x)"
    )


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--files", type=int, default=10000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--load-seconds", type=float, default=10)
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument(
        "--only", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}"
    )
    args = parser.parse_args()
    parts = set(args.only.split(","))
    if parts - set(PARTS):
        parser.error(f"--only: unknown part(s) {', '.join(sorted(parts - set(PARTS)))}")

    work = Path(tempfile.mkdtemp(prefix="filedock-bench-"))
    limits = {
        "FILEDOCK_MAX_FILE_BYTES": str((args.size_mib + 1) * 1024 * 1024),
        # The benchmark measures the server, not its rate limits (still evaluated per request).
        "FILEDOCK_UPLOADS_PER_MINUTE": "0",
        "FILEDOCK_REQUESTS_PER_MINUTE": "1000000000",
    }
    server = make_server(work / "data", env=limits).start()
    try:
        if "upload" in parts:
            bench_upload(server, work, args.size_mib, args.runs)
        if parts & {"latency", "load"}:
            ids = store_small_files(server, args.files)
            target = ids[len(ids) // 2]
        if "latency" in parts:
            retrieve = timed_requests(server.base_url + f"/files/{target}", args.requests)
            listing = timed_requests(server.base_url + "/files?limit=100", args.requests)
            print(f"retrieve       {_latency(retrieve)}   (target p50 <= 0.7 ms)")
            print(f"list?limit=100 {_latency(listing)}   (target p50 <= 1.5 ms)")
        if "load" in parts:
            bench_load(server, target, args.load_seconds)
        if "cold" in parts:
            server.stop()
            times, cpu = cold_start(server, args.cold_runs)
            print(
                f"cold start, exec to first 200: median {statistics.median(times):.3f} s  "
                f"runs {[round(t, 3) for t in times]}   (target <= 0.6 s)"
            )
            print(f"server CPU until then: median {statistics.median(cpu):.3f} s")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
