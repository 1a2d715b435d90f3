"""Uploads API benchmark (issue 4): a 2 GiB file in 64 MiB parts, 4 in flight, against one stream.

In one run, on one `filedock serve` (FILEDOCK_MAX_FILE_BYTES raised so POST /files takes the file):
1. POST /v1/files of the whole file as one streamed multipart request;
2. the Uploads API: create, parts of 64 MiB with 4 requests in flight, complete;
(interleaved --runs times) and prints MB/s of each (10^6 bytes/s, whole operation), the ratio,
the complete() time, and the server's VmHWM growth over each phase.

Both use the same client, so the ratio compares the server's two paths:
- `--client curl` (default when curl is installed): one curl process per request, `-F file=@...`;
  the parts are cut into separate files before timing starts;
- `--client httpx`: httpx in threads, each body streamed from the source file with os.pread in 1 MiB
  blocks (the Python client competes for the GIL and the 2 cores, which penalises 4 in flight).

Usage: python bench/bench_uploads.py [--size-mib 2048] [--part-mib 64] [--in-flight 4] [--runs 1]
       [--client curl|httpx] [--verify] [--keep-dir]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import TEST_KEY, make_server  # noqa: E402

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
MiB = 1024 * 1024
BLOCK = MiB
BOUNDARY = "benchb0undary7f3a"


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def make_source(path: Path, size: int) -> None:
    """Incompressible-looking data without paying for 2 GiB of urandom: one random 64 MiB
    block, each MiB stamped with its index so no two MiB are equal."""
    block = bytearray(os.urandom(64 * MiB))
    with path.open("wb") as out:
        written = 0
        while written < size:
            for mib in range(0, len(block), MiB):
                block[mib : mib + 8] = (written + mib).to_bytes(8, "little")
            take = min(len(block), size - written)
            out.write(memoryview(block)[:take])
            written += take


def multipart(
    fd: int, name: str, filename: str, start: int, length: int, fields: dict[str, str]
) -> tuple[dict[str, str], Iterator[bytes]]:
    """(headers, body iterator) of a multipart request whose file part is bytes start..+length."""
    head = b"".join(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    head += (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        offset = start
        end = start + length
        while offset < end:
            chunk = os.pread(fd, min(BLOCK, end - offset), offset)
            if not chunk:
                raise RuntimeError("source file ended early")
            offset += len(chunk)
            yield chunk
        yield tail

    headers = {
        **AUTH,
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(len(head) + length + len(tail)),
    }
    return headers, body()


def single_stream(client: httpx.Client, base: str, fd: int, size: int) -> tuple[float, str]:
    headers, body = multipart(fd, "file", "big.bin", 0, size, {"purpose": "user_data"})
    started = time.perf_counter()
    response = client.post(f"{base}/files", content=body, headers=headers)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    assert response.json()["bytes"] == size
    return elapsed, response.json()["id"]


def uploads_api(
    client: httpx.Client, base: str, fd: int, size: int, part: int, in_flight: int
) -> tuple[float, float, str]:
    started = time.perf_counter()
    created = client.post(
        f"{base}/uploads",
        headers=AUTH,
        json={
            "filename": "big.bin",
            "purpose": "user_data",
            "bytes": size,
            "mime_type": "application/octet-stream",
        },
    )
    created.raise_for_status()
    upload_id = created.json()["id"]
    offsets = list(range(0, size, part))

    def send(offset: int) -> str:
        headers, body = multipart(fd, "data", "blob", offset, min(part, size - offset), {})
        response = client.post(f"{base}/uploads/{upload_id}/parts", content=body, headers=headers)
        response.raise_for_status()
        return str(response.json()["id"])

    with ThreadPoolExecutor(in_flight) as pool:
        part_ids = list(pool.map(send, offsets))
    complete_started = time.perf_counter()
    done = client.post(
        f"{base}/uploads/{upload_id}/complete", headers=AUTH, json={"part_ids": part_ids}
    )
    finished = time.perf_counter()
    done.raise_for_status()
    file = done.json()["file"]
    assert file["bytes"] == size
    return finished - started, finished - complete_started, file["id"]


def curl_post(url: str, path: Path, fields: dict[str, str], file_field: str) -> dict[str, object]:
    """One multipart POST with curl streaming `path`; the JSON answer."""
    args = ["curl", "-sS", "--fail-with-body", "-H", f"Authorization: {AUTH['Authorization']}"]
    for key, value in fields.items():
        args += ["-F", f"{key}={value}"]
    args += ["-F", f"{file_field}=@{path}", url]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    answer: dict[str, object] = json.loads(out)
    return answer


def single_stream_curl(base: str, source: Path, size: int) -> tuple[float, str]:
    started = time.perf_counter()
    answer = curl_post(f"{base}/files", source, {"purpose": "user_data"}, "file")
    elapsed = time.perf_counter() - started
    assert answer["bytes"] == size
    return elapsed, str(answer["id"])


def uploads_api_curl(
    client: httpx.Client, base: str, parts: list[Path], size: int, in_flight: int
) -> tuple[float, float, str]:
    started = time.perf_counter()
    created = client.post(
        f"{base}/uploads",
        headers=AUTH,
        json={
            "filename": "big.bin",
            "purpose": "user_data",
            "bytes": size,
            "mime_type": "application/octet-stream",
        },
    )
    created.raise_for_status()
    upload_id = created.json()["id"]

    def send(path: Path) -> str:
        return str(curl_post(f"{base}/uploads/{upload_id}/parts", path, {}, "data")["id"])

    with ThreadPoolExecutor(in_flight) as pool:
        part_ids = list(pool.map(send, parts))
    complete_started = time.perf_counter()
    done = client.post(
        f"{base}/uploads/{upload_id}/complete", headers=AUTH, json={"part_ids": part_ids}
    )
    finished = time.perf_counter()
    done.raise_for_status()
    file = done.json()["file"]
    assert file["bytes"] == size
    return finished - started, finished - complete_started, file["id"]


def cut_parts(source: Path, folder: Path, part: int) -> list[Path]:
    folder.mkdir()
    paths = []
    with source.open("rb") as src:
        index = 0
        while True:
            path = folder / f"part{index:04d}"
            with path.open("wb") as out:
                copied = os.sendfile(out.fileno(), src.fileno(), None, part)
            if copied == 0:
                path.unlink()
                break
            paths.append(path)
            index += 1
    return paths


def content_sha256(client: httpx.Client, base: str, file_id: str) -> str:
    digest = hashlib.sha256()
    with client.stream("GET", f"{base}/files/{file_id}/content", headers=AUTH) as response:
        for chunk in response.iter_bytes():
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(8 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--part-mib", type=int, default=64)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--client", choices=["curl", "httpx"], default="curl" if shutil.which("curl") else "httpx"
    )
    parser.add_argument("--verify", action="store_true", help="compare content sha256 too")
    parser.add_argument("--keep-dir", action="store_true")
    args = parser.parse_args()
    size, part = args.size_mib * MiB, args.part_mib * MiB

    work = Path(tempfile.mkdtemp(prefix="bench-uploads-", dir=ROOT / "bench"))
    server = make_server(
        work / "data",
        env={
            "FILEDOCK_MAX_FILE_BYTES": str(size + MiB),
            "FILEDOCK_SWEEP_INTERVAL_SECONDS": "3600",
        },
    )
    try:
        source = work / "source.bin"
        make_source(source, size)
        expected = file_sha256(source) if args.verify else None
        parts = cut_parts(source, work / "parts", part) if args.client == "curl" else []
        server.start()
        base = server.base_url
        fd = os.open(source, os.O_RDONLY)
        limits = httpx.Limits(max_connections=args.in_flight + 2)
        with httpx.Client(timeout=600, limits=limits) as client:
            hwm_start = vm_hwm_kib(server.pid)
            single_times: list[float] = []
            upload_times: list[float] = []
            complete_times: list[float] = []
            growth_single = growth_uploads = 0
            for _ in range(args.runs):
                before = vm_hwm_kib(server.pid)
                if args.client == "curl":
                    elapsed, single_id = single_stream_curl(base, source, size)
                else:
                    elapsed, single_id = single_stream(client, base, fd, size)
                single_times.append(elapsed)
                growth_single = max(growth_single, vm_hwm_kib(server.pid) - before)
                before = vm_hwm_kib(server.pid)
                if args.client == "curl":
                    elapsed, completing, upload_file_id = uploads_api_curl(
                        client, base, parts, size, args.in_flight
                    )
                else:
                    elapsed, completing, upload_file_id = uploads_api(
                        client, base, fd, size, part, args.in_flight
                    )
                upload_times.append(elapsed)
                complete_times.append(completing)
                growth_uploads = max(growth_uploads, vm_hwm_kib(server.pid) - before)
                if expected is not None:
                    assert content_sha256(client, base, single_id) == expected
                    assert content_sha256(client, base, upload_file_id) == expected
                for file_id in (single_id, upload_file_id):
                    client.delete(f"{base}/files/{file_id}", headers=AUTH).raise_for_status()
            hwm_end = vm_hwm_kib(server.pid)
        os.close(fd)
        single_rate = size / statistics.median(single_times) / 1e6
        upload_rate = size / statistics.median(upload_times) / 1e6
        print(
            f"file size                  {args.size_mib} MiB, parts of {args.part_mib} MiB, "
            f"{args.in_flight} in flight, {args.runs} run(s), median shown, client {args.client}"
        )
        print(
            f"POST /files, one stream    {single_rate:8.1f} MB/s  "
            f"({statistics.median(single_times):.2f} s)  runs: "
            f"{[round(size / t / 1e6) for t in single_times]}"
        )
        print(
            f"Uploads API (incl. complete) {upload_rate:6.1f} MB/s  "
            f"({statistics.median(upload_times):.2f} s)  runs: "
            f"{[round(size / t / 1e6) for t in upload_times]}"
        )
        print(f"ratio uploads/single       {upload_rate / single_rate:8.2f}x")
        print(
            f"complete() time            {statistics.median(complete_times):8.2f} s  runs: "
            f"{[round(t, 2) for t in complete_times]}"
        )
        print(
            f"VmHWM growth               single {growth_single / 1024:.1f} MiB, uploads "
            f"{growth_uploads / 1024:.1f} MiB, whole run {(hwm_end - hwm_start) / 1024:.1f} MiB "
            f"({hwm_start / 1024:.1f} -> {hwm_end / 1024:.1f} MiB)"
        )
        if expected is not None:
            print("content                    sha256 of both files matches the source")
    finally:
        server.stop()
        if not args.keep_dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
