"""The Uploads API through the official SDK against a real `filedock serve` on loopback."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import openai
import pytest

from tests.helpers import TEST_KEY, ServerProcess, make_server

pytestmark = pytest.mark.live
MiB = 1024 * 1024
PART_LIMIT = 64 * MiB  # 67,108,864


def sdk(server: ServerProcess, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=TEST_KEY, max_retries=retries)


def content_sha256(server: ServerProcess, file_id: str) -> tuple[int, str]:
    """Size and sha256 of a file's content, streamed (never whole in memory)."""
    digest = hashlib.sha256()
    size = 0
    headers = {"Authorization": f"Bearer {TEST_KEY}"}
    with httpx.stream(
        "GET", f"{server.base_url}/files/{file_id}/content", headers=headers, timeout=60
    ) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def stored_blobs(data_dir: Path) -> list[Path]:
    """Every stored blob: a file, or a composed folder of segments."""
    return sorted((data_dir / "blobs").glob("*/*"))


def temporaries(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "tmp").iterdir() if not p.name.startswith(".")]


def test_sdk_upload_file_chunked(live_server: ServerProcess, tmp_path: Path) -> None:
    client = sdk(live_server)
    content = os.urandom(1_000_003)
    path = tmp_path / "train.jsonl"
    path.write_bytes(content)
    upload = client.uploads.upload_file_chunked(
        file=path, mime_type="text/jsonl", purpose="fine-tune", part_size=100_000
    )
    assert upload.status == "completed" and upload.file is not None
    assert upload.bytes == len(content) and upload.filename == "train.jsonl"
    assert client.files.content(upload.file.id).read() == content
    # With md5 (sent only when given), from in-memory bytes.
    md5 = hashlib.md5(content).hexdigest()
    upload = client.uploads.upload_file_chunked(
        file=content,
        filename="again.jsonl",
        bytes=len(content),
        mime_type="text/jsonl",
        purpose="fine-tune",
        part_size=300_000,
        md5=md5,
    )
    assert upload.file is not None
    assert client.files.retrieve(upload.file.id).bytes == len(content)
    assert client.files.content(upload.file.id).read() == content


def test_parallel_parts_shuffled_complete_and_errors(live_server: ServerProcess) -> None:
    client = sdk(live_server)
    chunks = [os.urandom(random.randint(50_000, 200_000)) for _ in range(12)]
    content = b"".join(chunks)
    upload = client.uploads.create(
        bytes=len(content),
        filename="u.bin",
        mime_type="application/octet-stream",
        purpose="user_data",
    )
    with ThreadPoolExecutor(6) as pool:
        parts = list(pool.map(lambda c: client.uploads.parts.create(upload.id, data=c), chunks))
    shuffled = list(range(len(chunks)))
    random.shuffle(shuffled)
    # The file order is the order of part_ids, whatever order the parts arrived in.
    expected = b"".join(chunks[i] for i in shuffled)
    missing_last = sum(len(chunks[i]) for i in shuffled[:-1])
    with pytest.raises(openai.BadRequestError) as excinfo:
        client.uploads.complete(upload.id, part_ids=[parts[i].id for i in shuffled[:-1]])
    assert excinfo.value.body == {
        "message": f"The parts in part_ids total {missing_last} bytes, but upload {upload.id} "
        f"was created with bytes={len(content)}.",
        "type": "invalid_request_error",
        "param": "part_ids",
        "code": None,
    }
    done = client.uploads.complete(upload.id, part_ids=[parts[i].id for i in shuffled])
    assert done.status == "completed" and done.file is not None
    assert client.files.content(done.file.id).read() == expected
    # A retried complete answers the same completed Upload.
    assert client.uploads.complete(upload.id, part_ids=[]) == done
    with pytest.raises(openai.BadRequestError):
        client.uploads.parts.create(upload.id, data=b"more")
    with pytest.raises(openai.NotFoundError) as missing:
        client.uploads.cancel("upload_" + "f" * 32)
    assert missing.value.body["param"] == "upload_id"  # type: ignore[index]
    # The connection stays usable after errors (max_retries=0).
    assert client.files.retrieve(done.file.id).id == done.file.id


def test_concurrent_parts_never_exceed_declared_bytes(live_server: ServerProcess) -> None:
    client = sdk(live_server)
    upload = client.uploads.create(
        bytes=10_000, filename="c.bin", mime_type="application/octet-stream", purpose="user_data"
    )

    def send(i: int) -> str | None:
        try:
            return client.uploads.parts.create(upload.id, data=bytes([i]) * 1000).id
        except openai.BadRequestError as exc:
            assert exc.body["param"] == "data"  # type: ignore[index]
            return None

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(send, range(16)))
    accepted = [r for r in results if r is not None]
    assert len(accepted) == 10
    done = client.uploads.complete(upload.id, part_ids=accepted)
    assert done.file is not None and done.file.bytes == 10_000


def test_cancel(live_server: ServerProcess) -> None:
    client = sdk(live_server)
    upload = client.uploads.create(
        bytes=10, filename="x.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    client.uploads.parts.create(upload.id, data=b"12345")
    cancelled = client.uploads.cancel(upload.id)
    assert cancelled.status == "cancelled" and cancelled.file is None
    with pytest.raises(openai.BadRequestError) as excinfo:
        client.uploads.parts.create(upload.id, data=b"12345")
    assert excinfo.value.code == "invalid_upload_state"


@pytest.mark.slow
def test_part_of_exactly_64_mib(live_server: ServerProcess) -> None:
    client = sdk(live_server)
    data = os.urandom(PART_LIMIT)
    upload = client.uploads.create(
        bytes=2 * PART_LIMIT + 1,
        filename="big.bin",
        mime_type="application/octet-stream",
        purpose="user_data",
    )
    with pytest.raises(openai.BadRequestError) as excinfo:
        client.uploads.parts.create(upload.id, data=data + b"x")
    assert excinfo.value.body == {
        "message": f"Part is too large. The maximum size of an upload part is {PART_LIMIT} bytes.",
        "type": "invalid_request_error",
        "param": "data",
        "code": "file_too_large",
    }
    first = client.uploads.parts.create(upload.id, data=data)
    second = client.uploads.parts.create(upload.id, data=data[::-1])
    third = client.uploads.parts.create(upload.id, data=b"!")
    done = client.uploads.complete(upload.id, part_ids=[third.id, first.id, second.id])
    assert done.file is not None
    expected = hashlib.sha256(b"!" + data + data[::-1]).hexdigest()
    assert content_sha256(live_server, done.file.id) == (2 * PART_LIMIT + 1, expected)


@pytest.fixture
def crash_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server whose blob leases lapse within a second of a crash and whose sweeper runs often,
    so what a killed process was writing goes soon after the restart (by its lapsed lease)."""
    server = make_server(
        tmp_path / "data",
        env={"FILEDOCK_BLOB_LEASE_SECONDS": "1", "FILEDOCK_SWEEP_INTERVAL_SECONDS": "0.2"},
    )
    try:
        yield server
    finally:
        server.stop()


def restart(server: ServerProcess) -> ServerProcess:
    """Start again on the same data dir; the startup sweep runs before it serves."""
    server.kill()
    return server.start()


def assert_clean(server: ServerProcess, files: int) -> None:
    """Exactly the files' blobs remain: no parts, no composed leftovers, no temporaries (once the
    sweeper has found the crashed writes' leases lapsed)."""
    deadline = time.monotonic() + 20
    while len(stored_blobs(server.data_dir)) != files or temporaries(server.data_dir):
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(stored_blobs(server.data_dir)) == files
    assert temporaries(server.data_dir) == []


@pytest.mark.slow
def test_kill_during_parts(crash_server: ServerProcess) -> None:
    server = crash_server.start()
    client = sdk(server)
    good = [os.urandom(3 * MiB) for _ in range(2)]
    last = os.urandom(2 * MiB)
    total = sum(map(len, good)) + len(last)
    upload = client.uploads.create(
        bytes=total, filename="k.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    ids = [client.uploads.parts.create(upload.id, data=d).id for d in good]
    streaming = threading.Event()

    def slow_part() -> None:
        boundary = "crashb0undary"
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="data"; filename="p"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()

        def body() -> Iterator[bytes]:
            yield head
            for _ in range(64):
                yield os.urandom(256 * 1024)
                streaming.set()
                time.sleep(0.05)
            yield f"\r\n--{boundary}--\r\n".encode()

        # The server dies under it, as intended.
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(
                f"{server.base_url}/uploads/{upload.id}/parts",
                content=body(),
                headers={
                    "Authorization": f"Bearer {TEST_KEY}",
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                },
                timeout=30,
            )

    sender = threading.Thread(target=slow_part)
    sender.start()
    assert streaming.wait(10)
    time.sleep(0.3)
    server.kill()  # kill -9 in the middle of a part
    sender.join()
    restart(server)
    client = sdk(server)
    # The pending Upload survived with its committed parts; the rest completes it.
    ids.append(client.uploads.parts.create(upload.id, data=last).id)
    done = client.uploads.complete(upload.id, part_ids=ids)
    assert done.file is not None
    expected = hashlib.sha256(b"".join(good) + last).hexdigest()
    assert content_sha256(server, done.file.id) == (total, expected)
    assert_clean(server, 1)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.2, 0.6])
def test_kill_during_complete(crash_server: ServerProcess, delay: float) -> None:
    server = crash_server.start()
    client = sdk(server)
    base = os.urandom(16 * MiB)
    chunks = [bytes([i]) * 4096 + base[4096:] for i in range(4)]
    total = sum(map(len, chunks))
    upload = client.uploads.create(
        bytes=total, filename="c.jsonl", mime_type="text/jsonl", purpose="fine-tune"
    )
    ids = [client.uploads.parts.create(upload.id, data=c).id for c in chunks]
    order = [2, 0, 3, 1]
    expected = hashlib.sha256(b"".join(chunks[i] for i in order)).hexdigest()
    del base, chunks

    def complete() -> None:
        with contextlib.suppress(openai.APIConnectionError):  # killed under it
            sdk(server).uploads.complete(upload.id, part_ids=[ids[i] for i in order])

    sender = threading.Thread(target=complete)
    sender.start()
    time.sleep(delay)
    server.kill()
    sender.join()
    restart(server)
    client = sdk(server)
    listed = client.files.list().data
    # Never a half file: either no File, or the whole one (and then the Upload is completed).
    assert len(listed) <= 1
    for file in listed:
        assert content_sha256(server, file.id) == (total, expected)
    done = client.uploads.complete(upload.id, part_ids=[ids[i] for i in order])
    assert done.status == "completed" and done.file is not None
    if listed:
        assert done.file.id == listed[0].id
    assert content_sha256(server, done.file.id) == (total, expected)
    assert_clean(server, 1)
