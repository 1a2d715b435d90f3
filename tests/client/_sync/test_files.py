# GENERATED from tests/client/_async/test_files.py by scripts/gen_sync_client.py: do not edit.
"""The client's Files API against a live `filedock serve`; tests/client/_sync/ is generated."""

from __future__ import annotations

import io
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from filedock.client import (
    AuthenticationError,
    BadRequestError,
    FilesClient,
    NotFoundError,
)
from tests.helpers import TEST_KEY, ServerProcess

pytestmark = [pytest.mark.live, pytest.mark.anyio]
MiB = 1024 * 1024


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


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
def client(live_server: ServerProcess) -> Iterator[FilesClient]:
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
        official = (sdk.files.retrieve(f.id)).model_dump()
    finally:
        sdk.close()
    assert {k: official[k] for k in f.to_dict()} == f.to_dict()


def test_file_inputs_name_like_the_sdk(client: FilesClient) -> None:
    assert (client.files.create(file=b"abc", purpose="user_data")).filename == "upload"
    named = client.files.create(file=('n\u00e4me "q".txt', b"abc"), purpose="user_data")
    assert named.filename == 'n\u00e4me "q".txt'
    buf = io.BytesIO(b"skip-this|keep")
    buf.seek(10)  # an open file uploads from its current position, as a stream would
    f = client.files.create(file=("pos.txt", buf), purpose="user_data")
    assert client.files.content(f.id) == b"keep"


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
    ids = [(client.files.create(file=(f"l{i}.txt", b"x"), purpose="evals")).id for i in range(5)]
    page = client.files.list(purpose="evals", limit=2, order="asc")
    assert [f.id for f in page.data] == ids[:2]
    assert page.has_more and page.first_id == ids[0] and page.last_id == ids[1]
    listed = [f.id for f in client.files.list_all(purpose="evals", order="asc", page_size=2)]
    assert listed == ids
    assert [f.id for f in (client.files.list(purpose="evals", order="desc")).data] == ids[::-1]


def test_typed_errors_carry_the_envelope(client: FilesClient, live_server: ServerProcess) -> None:
    with pytest.raises(BadRequestError) as info:
        client.files.create(file=b"x", purpose="nope")
    assert info.value.status == 400 and info.value.param == "purpose"
    assert "'nope' is not one of" in info.value.message
    with FilesClient(live_server.base_url, "sk-wrong") as bad:
        with pytest.raises(AuthenticationError) as auth:
            bad.files.list()
    assert (auth.value.status, auth.value.code) == (401, "invalid_api_key")


def test_wait_for_processing_and_report(client: FilesClient) -> None:
    good = client.files.create(file=("ok.txt", b"hello"), purpose="assistants")
    done = client.files.wait_for_processing(good.id, poll_interval=0.1, max_wait_seconds=30)
    assert done.status == "processed", done.status_details
    report = client.files.report(good.id)
    assert (report["verdict"], report["purpose"], report["file_id"]) == (
        "valid",
        "assistants",
        good.id,
    )

    bad = client.files.create(file=("bad.jsonl", b"{not json\n"), purpose="batch")
    failed = client.files.wait_for_processing(bad.id, poll_interval=0.1, max_wait_seconds=30)
    assert failed.status == "error" and failed.status_details
    assert (client.files.report(bad.id))["verdict"] == "invalid"


def test_config_from_environment(
    live_server: ServerProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", live_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", TEST_KEY)
    with FilesClient() as c:
        assert isinstance((c.files.list(limit=1)).data, list)
