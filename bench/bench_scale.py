"""Scale-out benchmark (issue 5): filedock on S3 versus a direct put, and PostgreSQL latency.

In one run, on the same machine and the same servers:
1. starts OpenStack Swift + s3api (tests/services.py) and a throwaway PostgreSQL cluster;
2. uploads the same file (default 512 MiB) to `filedock serve` on PostgreSQL + S3 with curl, and
   puts the same bytes directly into the same Swift with boto3 (the client filedock uses; the
   ceiling), interleaved (one warm-up each discarded, then --runs runs each); prints median MB/s,
   the ratio filedock/direct and filedock's VmHWM growth (/proc/<pid>/status);
3. for each row count (default 1,000 / 100,000 / 1,000,000) bulk-loads file rows with COPY into a
   fresh database, starts filedock on it and prints retrieve and list?limit=100 p50/p99 (one
   keep-alive client), plus a list page deep in the table (`after` = a random row).

Usage: python bench/bench_scale.py [--size-mib 512] [--runs 3] [--rows 1000,100000,1000000]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import TEST_KEY, ServerProcess, make_server  # noqa: E402
from tests.services import PostgresServer, SwiftServer, start_postgres, start_swift  # noqa: E402

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
MiB = 1024 * 1024


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def curl_upload(url: str, path: Path) -> float:
    """One upload with curl; returns MB/s (10^6 bytes per second) of the whole request."""
    args = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", url]
    args += ["-H", f"Authorization: Bearer {TEST_KEY}"]
    args += ["-F", f"file=@{path}", "-F", "purpose=user_data"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout.split()
    if out[0] != "200":
        raise RuntimeError(f"upload failed with HTTP {out[0]}")
    return path.stat().st_size / float(out[1]) / 1e6


def direct_put(swift: SwiftServer, bucket: str, path: Path) -> float:
    """boto3's own multipart upload (8 MiB parts, its default 10 threads) of the same file."""
    from boto3.s3.transfer import TransferConfig

    client = swift.client()
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)
    key = f"direct/{time.monotonic_ns()}"
    start = time.perf_counter()
    client.upload_file(str(path), bucket, key, Config=config)
    elapsed = time.perf_counter() - start
    client.delete_object(Bucket=bucket, Key=key)
    return path.stat().st_size / elapsed / 1e6


def obstore_put(swift: SwiftServer, bucket: str, path: Path) -> float | None:
    """The same put with obstore (async-native Rust client), for reference; None if absent."""
    try:
        import obstore
        from obstore.store import S3Store
    except ImportError:
        return None
    store = S3Store(
        bucket,
        endpoint=swift.endpoint,
        region=swift.region,
        access_key_id=swift.access_key,
        secret_access_key=swift.secret_key,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True},
    )
    key = f"direct-obstore/{time.monotonic_ns()}"
    start = time.perf_counter()
    obstore.put(store, key, path, chunk_size=8 * MiB, max_concurrency=10)
    elapsed = time.perf_counter() - start
    obstore.delete(store, key)
    return path.stat().st_size / elapsed / 1e6


def make_payload(path: Path, size: int) -> None:
    block = os.urandom(MiB)
    with path.open("wb") as f:
        for i in range(size // MiB):
            f.write(block[i % 256 :] + block[: i % 256])


def bench_upload(swift: SwiftServer, postgres: PostgresServer, size_mib: int, runs: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="fd-bench-scale-"))
    payload = work / "payload.bin"
    make_payload(payload, size_mib * MiB)
    bucket = swift.bucket()
    env = {"FILEDOCK_DATABASE_URL": postgres.database(), **swift.env(bucket, prefix="files")}
    env["FILEDOCK_MAX_FILE_BYTES"] = str((size_mib + 1) * MiB)
    server = make_server(work / "data", env=env).start(timeout=60)
    try:
        url = server.base_url + "/files"
        curl_upload(url, payload)  # warm-up
        direct_put(swift, bucket, payload)
        hwm_before = vm_hwm_kib(server.pid)
        ours, direct = [], []
        for _ in range(runs):
            ours.append(curl_upload(url, payload))
            direct.append(direct_put(swift, bucket, payload))
        growth = (vm_hwm_kib(server.pid) - hwm_before) / 1024
        others = [obstore_put(swift, bucket, payload) for _ in range(runs)]
        o, d = statistics.median(ours), statistics.median(direct)
        print(f"upload {size_mib} MiB, {runs} runs each (median):")
        print(f"  filedock (PostgreSQL + S3) {o:8.1f} MB/s   runs {[round(x) for x in ours]}")
        print(f"  direct boto3 put           {d:8.1f} MB/s   runs {[round(x) for x in direct]}")
        if None not in others:
            rates = [x for x in others if x is not None]
            print(
                f"  (reference) obstore put    {statistics.median(rates):8.1f} MB/s   "
                f"runs {[round(x) for x in rates]}"
            )
        print(f"  ratio {o / d:.2f}x   server VmHWM growth {growth:.1f} MiB")
    finally:
        server.stop()
        payload.unlink()


COLUMNS = (
    "id, project_id, purpose, filename, bytes, created_at, expires_at, status, "
    "status_details, sha256, blob_key"
)


def load_rows(url: str, rows: int) -> list[str]:
    """COPY `rows` file rows (several per second, like real traffic); returns a sample of ids."""
    import psycopg

    base = int(time.time()) - rows
    sample: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        # The per-row usage trigger (projects.used_bytes) would turn a bulk load into a million
        # updates of one row: load with user triggers off, then set the usage once.
        conn.execute("ALTER TABLE files DISABLE TRIGGER USER")
        with conn.cursor() as cur, cur.copy(f"COPY files ({COLUMNS}) FROM STDIN") as copy:
            buffer = io.StringIO()
            for i in range(rows):
                file_id = f"file-{i:022d}"
                if i % max(1, rows // 500) == 0:
                    sample.append(file_id)
                buffer.write(
                    f"{file_id}\tproj_default\tbatch\tf{i}.jsonl\t100\t{base + i // 3}\t\\N\t"
                    f"processed\t\\N\t{'ab' * 32}\t{i:032x}\n"
                )
                if buffer.tell() > 4 * MiB:
                    copy.write(buffer.getvalue())
                    buffer = io.StringIO()
            copy.write(buffer.getvalue())
        conn.execute("ALTER TABLE files ENABLE TRIGGER USER")
        conn.execute(
            "UPDATE projects SET used_bytes = (SELECT COALESCE(SUM(bytes), 0) FROM files "
            "WHERE files.project_id = projects.id AND deleted_at IS NULL)"
        )
        conn.execute("ANALYZE files")
    return sample


def p50_p99(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(len(ordered) * 0.99) - 1] * 1000


def timed(client: httpx.Client, paths: list[str]) -> list[float]:
    out = []
    for path in paths:
        start = time.perf_counter()
        response = client.get(path)
        out.append(time.perf_counter() - start)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: HTTP {response.status_code}")
    return out


def bench_latency(
    swift: SwiftServer, postgres: PostgresServer, row_counts: list[int], rounds: int
) -> None:
    """Load every table, start one server per table, then sample them interleaved.

    Interleaving (a few requests to each server in turn, many rounds) makes the noise of a shared
    machine hit every table size alike, so the ratios stay meaningful.
    """
    bucket = swift.bucket()
    servers: dict[int, ServerProcess] = {}
    samples: dict[int, list[str]] = {}
    try:
        for rows in row_counts:
            url = postgres.database()
            env = {"FILEDOCK_DATABASE_URL": url, **swift.env(bucket, prefix="files")}
            work = Path(tempfile.mkdtemp(prefix="fd-bench-rows-"))
            subprocess.run(
                [sys.executable, "-m", "filedock", "migrate"],
                env={**os.environ, **env, "FILEDOCK_DATA_DIR": str(work)},
                check=True,
                capture_output=True,
            )
            start = time.perf_counter()
            samples[rows] = load_rows(url, rows)
            print(f"  {rows:>9,} rows loaded with COPY in {time.perf_counter() - start:.1f} s")
            servers[rows] = make_server(work / "data", env=env).start(timeout=60)
        times: dict[int, dict[str, list[float]]] = {
            rows: {"retrieve": [], "list": [], "list after": []} for rows in row_counts
        }
        clients = {
            rows: httpx.Client(base_url=server.base_url, headers=AUTH, timeout=30)
            for rows, server in servers.items()
        }
        rng = random.Random(0)
        try:
            for client in clients.values():
                timed(client, ["/files?limit=100"] * 20)  # warm-up
            for _ in range(rounds):
                for rows, client in clients.items():
                    pick = rng.choice(samples[rows])
                    times[rows]["retrieve"] += timed(client, [f"/files/{pick}"] * 5)
                    times[rows]["list"] += timed(client, ["/files?limit=100"] * 5)
                    times[rows]["list after"] += timed(
                        client, [f"/files?limit=100&after={pick}"] * 5
                    )
        finally:
            for client in clients.values():
                client.close()
    finally:
        for server in servers.values():
            server.stop()
    results = {rows: {k: p50_p99(v) for k, v in figures.items()} for rows, figures in times.items()}
    base = results[row_counts[0]]
    print(f"PostgreSQL latency, ms (p50 / p99 of {rounds * 5} requests each, interleaved;")
    print("ratio of p50 to the smallest table):")
    for rows, figures in results.items():
        cells = [
            f"{name} {p50:6.2f} / {p99:6.2f} ({p50 / base[name][0]:.2f}x)"
            for name, (p50, p99) in figures.items()
        ]
        print(f"  {rows:>9,} rows   " + "   ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", default="1000,100000,1000000")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--skip-upload", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args: Any = parser.parse_args()
    swift = start_swift()
    try:
        postgres = start_postgres()
        try:
            if not args.skip_upload:
                bench_upload(swift, postgres, args.size_mib, args.runs)
            if not args.skip_latency:
                bench_latency(swift, postgres, [int(r) for r in args.rows.split(",")], args.rounds)
        finally:
            postgres.stop()
    finally:
        swift.stop()


if __name__ == "__main__":
    main()
