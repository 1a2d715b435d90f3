"""The client library against a live `filedock serve`: sync and async, progress, typed errors."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from filedock.client import (
    AsyncFilesClient,
    AuthenticationError,
    BadRequestError,
    FileObject,
    FilesClient,
    NotFoundError,
)
from tests.helpers import TEST_KEY, ServerProcess

pytestmark = pytest.mark.live
MiB = 1024 * 1024


def _assert_progress(calls: list[tuple[int, int | None]], size: int) -> None:
    done = [d for d, _ in calls]
    assert done, "progress never reported"
    assert done == sorted(done), f"progress went backwards: {done}"
    assert done[0] == 0
    assert done[-1] == size
    assert all(total == size for _, total in calls)


def _raw(server: ServerProcess, path: str) -> Any:
    r = httpx.get(server.base_url + path, headers={"Authorization": f"Bearer {TEST_KEY}"})
    r.raise_for_status()
    return r.json()


@pytest.fixture
def client(live_server: ServerProcess) -> Any:
    with FilesClient(live_server.base_url, TEST_KEY) as c:
        yield c


def test_upload_path_with_progress_and_round_trip(
    client: FilesClient, live_server: ServerProcess, tmp_path: Path
) -> None:
    data = os.urandom(3 * MiB + 123)
    src = tmp_path / "data.bin"
    src.write_bytes(data)
    calls: list[tuple[int, int | None]] = []
    f = client.files.create(
        file=src, purpose="user_data", progress=lambda d, t: calls.append((d, t))
    )
    _assert_progress(calls, len(data))
    assert len(calls) >= 3  # reported as chunks went out, not only at the end
    assert (f.filename, f.bytes, f.purpose, f.object) == (
        "data.bin",
        len(data),
        "user_data",
        "file",
    )

    # Field for field (and in the server's key order) what the server sends.
    raw = _raw(live_server, f"/files/{f.id}")
    again = client.files.retrieve(f.id)
    assert again.to_dict() == raw
    assert list(again.to_dict()) == list(raw)
    assert again == f

    assert client.files.content(f.id) == data
    calls.clear()
    out = client.files.download(
        f.id, tmp_path / "out.bin", progress=lambda d, t: calls.append((d, t))
    )
    assert out.read_bytes() == data
    _assert_progress(calls, len(data))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".filedock-")] == []

    deleted = client.files.delete(f.id)
    assert (deleted.id, deleted.deleted) == (f.id, True)
    with pytest.raises(NotFoundError) as info:
        client.files.retrieve(f.id)
    err = info.value
    assert (err.status, err.param, err.type) == (404, "id", "invalid_request_error")
    assert err.message == f"No such File object: {f.id}"
    assert err.request_id


def test_same_objects_as_the_official_sdk(client: FilesClient, live_server: ServerProcess) -> None:
    f = client.files.create(
        file=("batch.jsonl", b""),
        purpose="user_data",
        expires_after={"anchor": "created_at", "seconds": 7200},
    )
    assert f.expires_at == f.created_at + 7200
    sdk = openai.OpenAI(base_url=live_server.base_url, api_key=TEST_KEY, max_retries=0)
    try:
        official = sdk.files.retrieve(f.id).model_dump()
    finally:
        sdk.close()
    assert {k: official[k] for k in f.to_dict()} == f.to_dict()


def test_file_inputs_name_like_the_sdk(client: FilesClient) -> None:
    assert client.files.create(file=b"abc", purpose="user_data").filename == "upload"
    assert (
        client.files.create(file=('n\u00e4me "q".txt', b"abc"), purpose="user_data").filename
        == 'n\u00e4me "q".txt'
    )
    assert client.files.create(file=io.BytesIO(b"abc"), purpose="user_data").filename == "upload"
    buf = io.BytesIO(b"skip-this|keep")
    buf.seek(10)  # an open file uploads from its current position, as a stream would
    f = client.files.create(file=("pos.txt", buf), purpose="user_data")
    assert client.files.content(f.id) == b"keep"


def test_unknown_size_stream_is_sent_chunked(client: FilesClient) -> None:
    """A pipe has no size: the body goes out with chunked transfer encoding, still streamed."""
    read_fd, write_fd = os.pipe()
    payload = os.urandom(2 * MiB + 5)

    def feed() -> None:
        with os.fdopen(write_fd, "wb") as w:
            w.write(payload)

    writer = threading.Thread(target=feed)
    writer.start()
    calls: list[tuple[int, int | None]] = []
    with os.fdopen(read_fd, "rb") as pipe:
        f = client.files.create(
            file=("piped.bin", pipe),
            purpose="user_data",
            progress=lambda d, t: calls.append((d, t)),
        )
    writer.join()
    assert f.bytes == len(payload)
    assert client.files.content(f.id) == payload
    assert [d for d, _ in calls] == sorted(d for d, _ in calls) and calls[-1][0] == len(payload)


def test_upload_streams_in_constant_memory(client: FilesClient, tmp_path: Path) -> None:
    src = tmp_path / "big.bin"
    with src.open("wb") as out:
        for _ in range(24):
            out.write(os.urandom(MiB))
    tracemalloc.start()
    try:
        f = client.files.create(file=src, purpose="user_data")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert f.bytes == 24 * MiB
    assert peak < 8 * MiB, f"peak {peak} bytes: the file was buffered"


def test_list_filters_orders_and_paginates(client: FilesClient) -> None:
    ids = [client.files.create(file=(f"l{i}.txt", b"x"), purpose="evals").id for i in range(5)]
    page = client.files.list(purpose="evals", limit=2, order="asc")
    assert [f.id for f in page.data] == ids[:2]
    assert page.has_more and page.first_id == ids[0] and page.last_id == ids[1]
    assert [f.id for f in client.files.list_all(purpose="evals", order="asc", page_size=2)] == ids
    assert [f.id for f in client.files.list(purpose="evals", order="desc").data] == ids[::-1]


def test_typed_errors_carry_the_envelope(client: FilesClient, live_server: ServerProcess) -> None:
    with pytest.raises(BadRequestError) as info:
        client.files.create(file=b"x", purpose="nope")
    assert info.value.status == 400 and info.value.param == "purpose"
    assert "'nope' is not one of" in info.value.message
    with (
        FilesClient(live_server.base_url, "sk-wrong") as bad,
        pytest.raises(AuthenticationError) as auth,
    ):
        bad.files.list()
    assert (auth.value.status, auth.value.code) == (401, "invalid_api_key")


def test_wait_for_processing_and_report(client: FilesClient) -> None:
    f = client.files.create(file=("ok.txt", b"hello"), purpose="assistants")
    done = client.files.wait_for_processing(f.id, poll_interval=0.1, max_wait_seconds=30)
    assert done.status in ("processed", "error")
    try:
        report = client.files.report(f.id)
    except NotFoundError as exc:
        # Only acceptable reason: the server lacks the report extension altogether.
        assert exc.is_missing_route
    else:
        assert isinstance(report, dict)


def test_config_from_environment(
    live_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", live_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    with FilesClient() as c:
        assert isinstance(c.files.list(limit=1).data, list)


def test_async_client(live_server: ServerProcess, tmp_path: Path) -> None:
    data = os.urandom(2 * MiB + 1)
    src = tmp_path / "async.bin"
    src.write_bytes(data)

    async def main() -> tuple[FileObject, list[tuple[int, int | None]], bytes]:
        calls: list[tuple[int, int | None]] = []
        async with AsyncFilesClient(live_server.base_url, TEST_KEY) as c:
            f = await c.files.create(
                file=src, purpose="user_data", progress=lambda d, t: calls.append((d, t))
            )
            assert await c.files.retrieve(f.id) == f
            assert f.id in [x.id async for x in c.files.list_all(purpose="user_data")]
            got = await c.files.content(f.id)
            down: list[tuple[int, int | None]] = []
            path = await c.files.download(
                f.id, tmp_path / "a.out", progress=lambda d, t: down.append((d, t))
            )
            _assert_progress(down, len(data))
            assert path.read_bytes() == data
            assert (await c.files.wait_for_processing(f.id, poll_interval=0.1)).status in (
                "processed",
                "error",
            )
            assert (await c.files.delete(f.id)).deleted
            with pytest.raises(NotFoundError):
                await c.files.retrieve(f.id)
        return f, calls, got

    f, calls, got = asyncio.run(main())
    assert got == data and f.bytes == len(data)
    _assert_progress(calls, len(data))
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
