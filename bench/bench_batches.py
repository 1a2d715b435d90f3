"""Batch API benchmark (issue 12): how close the runner gets to what the engine allows.

Against a STUB engine with a fixed latency (bench/stub_engine_fast.py, its own process):
1. throughput: a --lines batch (10,000) at --concurrency 64 through `filedock serve`, timed from
   `POST /v1/batches` to `completed`, against the bound concurrency / latency and against a plain
   asyncio + httpx client sending the same requests with the same concurrency (same run);
2. memory: a --rss-lines batch (50,000): growth of the server's peak RSS (VmHWM) from after the
   upload to the end of the batch;
3. resume: a --resume-lines batch, the server killed with SIGKILL once a third is done and started
   again on the same data; the stub counts what it received: re-sent = received - distinct lines.
Against the real engine (llama.cpp + Gemma 3 270M, scripts/llm-engine.sh; --engine-lines chat
requests, max_tokens 8): lines per second of a batch vs the same requests sent directly.

Usage: python bench/bench_batches.py [--lines 10000] [--concurrency 64] [--latency-ms 20]
       [--rss-lines 50000] [--resume-lines 5000] [--engine-lines 16] [--only PHASE ...]
       [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import TEST_KEY, ServerProcess, free_port, make_server  # noqa: E402

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
STUB = ROOT / "bench" / "stub_engine_fast.py"
ENGINE_SCRIPT = ROOT / "scripts" / "llm-engine.sh"
ENGINE_VENV = Path(
    os.environ.get("FILEDOCK_TEST_CACHE", Path.home() / ".cache" / "filedock-tests")
) / ("llm-engine-venv")
PHASES = ("throughput", "rss", "resume", "engine")
TERMINAL = ("completed", "failed", "expired", "cancelled")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field}")


@contextmanager
def stub_engine(latency_ms: float) -> Iterator[str]:
    """The fast stub in its own process; yields its base URL (with /v1)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(STUB), str(port), "--latency-ms", str(latency_ms)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(base + "/stats", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        process.wait(10)


def stub_stats(base: str) -> dict[str, int]:
    stats: dict[str, int] = httpx.get(base + "/stats", timeout=5).json()
    return stats


def stub_reset(base: str) -> None:
    httpx.post(base + "/reset", timeout=5)


def chat_body(i: int, model: str = "stub-model") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": f"cid-{i}"}], "max_tokens": 1}


def write_input(path: Path, bodies: list[dict[str, Any]]) -> None:
    with path.open("w") as out:
        for i, body in enumerate(bodies):
            line = {"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions"}
            out.write(json.dumps({**line, "body": body}) + "\n")


def start_server(work: Path, name: str, engine_url: str, concurrency: int) -> ServerProcess:
    env = {
        "FILEDOCK_ENGINE_URL": engine_url,
        "FILEDOCK_BATCH_CONCURRENCY": str(concurrency),
        "FILEDOCK_BATCH_POLL_SECONDS": "0.1",
    }
    return make_server(work / name, env=env).start()


def upload(server: ServerProcess, path: Path) -> str:
    with path.open("rb") as fh:
        response = httpx.post(
            server.base_url + "/files",
            headers=AUTH,
            files={"file": (path.name, fh, "application/jsonl")},
            data={"purpose": "batch"},
            timeout=600,
        )
    response.raise_for_status()
    return str(response.json()["id"])


def create_batch(server: ServerProcess, file_id: str) -> dict[str, Any]:
    body = {
        "input_file_id": file_id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    }
    response = httpx.post(server.base_url + "/batches", headers=AUTH, json=body, timeout=60)
    response.raise_for_status()
    batch: dict[str, Any] = response.json()
    return batch


def retrieve(server: ServerProcess, batch_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/batches/{batch_id}", headers=AUTH, timeout=60)
    response.raise_for_status()
    batch: dict[str, Any] = response.json()
    return batch


def wait_batch(
    server: ServerProcess, batch_id: str, until_done: int | None = None, timeout: float = 3600
) -> dict[str, Any]:
    """Poll every 50 ms until the batch ends (or `until_done` lines are recorded); every 5 ms
    once every line is recorded, so the end is seen within 5 ms, not 50."""
    deadline = time.monotonic() + timeout
    while True:
        batch = retrieve(server, batch_id)
        counts = batch["request_counts"]
        if batch["status"] in TERMINAL:
            return batch
        done = counts["completed"] + counts["failed"]
        if until_done is not None and done >= until_done:
            return batch
        if time.monotonic() > deadline:
            raise TimeoutError(f"batch {batch_id}: {batch['status']} {counts}")
        ending = batch["status"] == "finalizing" or (counts["total"] and done >= counts["total"])
        time.sleep(0.005 if ending else 0.05)


def run_batch(server: ServerProcess, path: Path) -> tuple[float, dict[str, Any]]:
    """Upload, create, wait; returns the seconds from create to completed and the batch, with
    the server's CPU seconds spent meanwhile under "_cpu_seconds"."""
    file_id = upload(server, path)
    cpu = cpu_seconds(server.pid)
    started = time.perf_counter()
    batch = create_batch(server, file_id)
    batch = wait_batch(server, batch["id"])
    elapsed = time.perf_counter() - started
    if batch["status"] != "completed":
        raise RuntimeError(f"batch ended {batch['status']}: {batch}")
    batch["_cpu_seconds"] = cpu_seconds(server.pid) - cpu
    return elapsed, batch


async def direct_client(
    base: str, bodies: list[dict[str, Any]], concurrency: int, pools: int = 1
) -> float:
    """The baseline: asyncio + httpx, `concurrency` workers sharing `pools` AsyncClients (one
    pool of `concurrency` connections is the plain client; several smaller pools spare httpcore
    its per-request scan of every connection); seconds for all."""
    per_pool = -(-concurrency // pools)
    limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
    clients = [httpx.AsyncClient(base_url=base, limits=limits, timeout=600) for _ in range(pools)]
    queue = iter(bodies)

    async def worker(client: httpx.AsyncClient) -> None:
        for body in queue:
            response = await client.post("/chat/completions", json=body)
            response.raise_for_status()

    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker(clients[i % pools]) for i in range(concurrency)))
        return time.perf_counter() - started
    finally:
        for client in clients:
            await client.aclose()


async def raw_client(base: str, bodies: list[dict[str, Any]], concurrency: int) -> float:
    """What the machine allows: one keep-alive HTTP/1.1 connection per worker on asyncio
    streams, Content-Length bodies only (enough for the stub); seconds for all."""
    url = httpx.URL(base)
    path = url.path.rstrip("/") + "/chat/completions"
    queue = iter(bodies)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(url.host, url.port)
        try:
            for body in queue:
                data = json.dumps(body).encode()
                head_out = (
                    f"POST {path} HTTP/1.1\r\nhost: {url.host}\r\n"
                    f"content-type: application/json\r\ncontent-length: {len(data)}\r\n\r\n"
                )
                writer.write(head_out.encode() + data)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(head.decode(errors="replace"))
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def phase_throughput(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    bodies = [chat_body(i) for i in range(args.lines)]
    path = work / "throughput.jsonl"
    write_input(path, bodies)
    bound = args.concurrency / (args.latency_ms / 1000)
    with stub_engine(args.latency_ms) as engine:
        direct_s = asyncio.run(direct_client(engine, bodies, args.concurrency))
        pooled_s = asyncio.run(direct_client(engine, bodies, args.concurrency, pools=8))
        raw_s = asyncio.run(raw_client(engine, bodies, args.concurrency))
        stub_reset(engine)
        server = start_server(work, "throughput", engine, args.concurrency)
        try:
            batch_s, batch = run_batch(server, path)
        finally:
            server.stop()
        stats = stub_stats(engine)
    batch_rate, direct_rate = args.lines / batch_s, args.lines / direct_s
    pooled_rate, raw_rate = args.lines / pooled_s, args.lines / raw_s
    return {
        "lines": args.lines,
        "concurrency": args.concurrency,
        "latency_ms": args.latency_ms,
        "bound_lines_per_s": bound,
        "direct_lines_per_s": round(direct_rate, 1),
        "direct_8_pools_lines_per_s": round(pooled_rate, 1),
        "raw_asyncio_lines_per_s": round(raw_rate, 1),
        "batch_lines_per_s": round(batch_rate, 1),
        "batch_seconds": round(batch_s, 2),
        "ratio_batch_to_bound": round(batch_rate / bound, 3),
        "ratio_batch_to_direct": round(batch_rate / direct_rate, 3),
        "ratio_batch_to_direct_8_pools": round(batch_rate / pooled_rate, 3),
        "ratio_raw_asyncio_to_bound": round(raw_rate / bound, 3),
        "ratio_direct_to_bound": round(direct_rate / bound, 3),
        "server_cpu_ms_per_line": round(1000 * batch["_cpu_seconds"] / args.lines, 3),
        "stub_requests": stats["requests"],
        "stub_max_in_flight": stats["max_in_flight"],
        "request_counts": batch["request_counts"],
    }


def phase_rss(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    path = work / "rss.jsonl"
    write_input(path, [chat_body(i) for i in range(args.rss_lines)])
    with stub_engine(args.latency_ms) as engine:
        server = start_server(work, "rss", engine, args.concurrency)
        try:
            file_id = upload(server, path)
            rss_before = proc_kib(server.pid, "VmRSS")
            hwm_before = proc_kib(server.pid, "VmHWM")
            peak = [rss_before]
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.05):
                    peak[0] = max(peak[0], proc_kib(server.pid, "VmRSS"))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            started = time.perf_counter()
            batch = wait_batch(server, create_batch(server, file_id)["id"])
            elapsed = time.perf_counter() - started
            done.set()
            sampler.join()
            hwm_after = proc_kib(server.pid, "VmHWM")
        finally:
            server.stop()
    return {
        "lines": args.rss_lines,
        "status": batch["status"],
        "request_counts": batch["request_counts"],
        "seconds": round(elapsed, 1),
        "rss_before_mib": round(rss_before / 1024, 1),
        "rss_peak_growth_mib": round((peak[0] - rss_before) / 1024, 1),
        "hwm_growth_mib": round((hwm_after - hwm_before) / 1024, 1),
    }


def output_custom_ids(server: ServerProcess, batch: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    for key in ("output_file_id", "error_file_id"):
        if batch.get(key):
            url = f"{server.base_url}/files/{batch[key]}/content"
            text = httpx.get(url, headers=AUTH, timeout=600).text
            ids.extend(json.loads(line)["custom_id"] for line in text.splitlines())
    return ids


def phase_resume(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    n = args.resume_lines
    path = work / "resume.jsonl"
    write_input(path, [chat_body(i) for i in range(n)])
    with stub_engine(args.latency_ms) as engine:
        server = start_server(work, "resume", engine, args.concurrency)
        try:
            file_id = upload(server, path)
            stub_reset(engine)
            batch = create_batch(server, file_id)
            at_kill = wait_batch(server, batch["id"], until_done=n // 3)["request_counts"]
            os.kill(server.pid, signal.SIGKILL)
            assert server.process is not None
            server.process.wait()
            received_at_kill = stub_stats(engine)["requests"]
            restarted = time.perf_counter()
            server.start()
            final = wait_batch(server, batch["id"])
            resume_s = time.perf_counter() - restarted
            ids = output_custom_ids(server, final)
        finally:
            server.stop()
        stats = stub_stats(engine)
    return {
        "lines": n,
        "concurrency": args.concurrency,
        "status": final["status"],
        "counts_seen_before_kill": at_kill,
        "stub_requests_before_kill": received_at_kill,
        "stub_requests": stats["requests"],
        "stub_distinct_lines": stats["distinct"],
        "resent": stats["requests"] - stats["distinct"],
        "resent_within_concurrency": stats["requests"] - stats["distinct"] <= args.concurrency,
        "custom_ids_in_results": len(ids),
        "custom_ids_distinct": len(set(ids)),
        "seconds_after_restart": round(resume_s, 1),
    }


def phase_engine(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    port = free_port()
    started = subprocess.run(
        ["bash", str(ENGINE_SCRIPT), str(ENGINE_VENV), str(port)],
        capture_output=True,
        text=True,
        check=True,
        timeout=3600,
    )
    values = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line)
    pid = int(values["PID"])
    try:
        base, model = values["BASE_URL"], values["MODEL"]
        prompts = [f"Write one word about the number {i}." for i in range(args.engine_lines)]
        bodies = [
            {
                "model": model,
                "messages": [{"role": "user", "content": p}],
                "temperature": 0,
                "max_tokens": 8,
            }
            for p in prompts
        ]
        concurrency = 4  # llama.cpp's server answers one request at a time anyway
        asyncio.run(direct_client(base, bodies[:2], concurrency))  # warm up
        direct_s = asyncio.run(direct_client(base, bodies, concurrency))
        path = work / "engine.jsonl"
        write_input(path, bodies)
        server = start_server(work, "engine", base, concurrency)
        try:
            batch_s, batch = run_batch(server, path)
        finally:
            server.stop()
    finally:
        os.kill(pid, signal.SIGTERM)
    n = args.engine_lines
    return {
        "lines": n,
        "concurrency": concurrency,
        "direct_lines_per_s": round(n / direct_s, 2),
        "batch_lines_per_s": round(n / batch_s, 2),
        "ratio_batch_to_direct": round(direct_s / batch_s, 3),
        "request_counts": batch["request_counts"],
        "usage": batch.get("usage"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--rss-lines", type=int, default=50_000)
    parser.add_argument("--resume-lines", type=int, default=5_000)
    parser.add_argument("--engine-lines", type=int, default=16)
    parser.add_argument("--only", nargs="*", choices=PHASES, default=list(PHASES))
    parser.add_argument("--json", action="store_true", help="print the results as one JSON")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-batches-") as tmp:
        work = Path(tmp)
        for phase in args.only:
            results[phase] = globals()[f"phase_{phase}"](args, work)
            if not args.json:
                print(f"{phase}: {json.dumps(results[phase])}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    t = results.get("throughput")
    if t:
        print(
            f"throughput: batch {t['batch_lines_per_s']} lines/s, direct httpx "
            f"{t['direct_lines_per_s']}, bound {t['bound_lines_per_s']:.0f}: "
            f"batch/bound {t['ratio_batch_to_bound']}x (>= 0.9), "
            f"batch/direct {t['ratio_batch_to_direct']}x (>= 0.9), batch/direct in 8 pools "
            f"({t['direct_8_pools_lines_per_s']} lines/s) {t['ratio_batch_to_direct_8_pools']}x; "
            f"raw asyncio client {t['raw_asyncio_lines_per_s']} lines/s "
            f"({t['ratio_raw_asyncio_to_bound']}x the bound)"
        )
    r = results.get("rss")
    if r:
        print(f"rss: {r['lines']} lines, peak RSS growth {r['rss_peak_growth_mib']} MiB (<= 64)")
    s = results.get("resume")
    if s:
        print(f"resume: re-sent {s['resent']} (<= {s['concurrency']})")
    e = results.get("engine")
    if e:
        print(
            f"engine: batch {e['batch_lines_per_s']} lines/s, direct {e['direct_lines_per_s']}: "
            f"{e['ratio_batch_to_direct']}x"
        )


if __name__ == "__main__":
    main()
