"""The seed pages' examples, run verbatim with the official `openai` package on `filedock serve`.

Only the client's base URL and API key differ from the seed text (seeds/000_b996aa2a940440db.txt and
the curl example of seeds/003_42165ab1da4c2c62.txt). Also: auto-pagination, byte-exact round trips,
list filters, delete, and curl uploads (multipart header as in the seed, and chunked transfer).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.helpers import TEST_KEY, ServerProcess

pytestmark = pytest.mark.live

# The JSONL samples of the seed page, verbatim.
SEED_FINE_TUNE_SAMPLE = (
    '{"messages": [{"role": "system", "content": "You are a helpful assistant."}, '
    '{"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "Hi there!"}]}\n'
    '{"messages": [{"role": "system", "content": "You are a helpful assistant."}, '
    '{"role": "user", "content": "How are you?"}, '
    '{"role": "assistant", "content": "I\'m doing well!"}]}\n'
)
# A real training file needs at least 10 examples: the seed's two, five times over.
FINE_TUNE_JSONL = SEED_FINE_TUNE_SAMPLE * 5
BATCH_JSONL = (
    '{"custom_id": "request-1", "method": "POST", "url": "/v1/chat/completions", "body": '
    '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]}}\n'
    '{"custom_id": "request-2", "method": "POST", "url": "/v1/chat/completions", "body": '
    '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "How are you?"}]}}\n'
)
# A tiny but well-formed PDF (header, one empty page, trailer).
PDF_BYTES = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The seed examples open files by relative name: run them in a folder that has them."""
    (tmp_path / "training_data.jsonl").write_text(FINE_TUNE_JSONL)
    (tmp_path / "batch_requests.jsonl").write_text(BATCH_JSONL)
    (tmp_path / "data.jsonl").write_text(FINE_TUNE_JSONL)
    (tmp_path / "knowledge_base.pdf").write_bytes(PDF_BYTES)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "training.jsonl").write_text(FINE_TUNE_JSONL)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def client(live_server: ServerProcess) -> Iterator[OpenAI]:
    with OpenAI(base_url=live_server.base_url, api_key=TEST_KEY) as c:
        yield c


def _content(client: OpenAI, file_id: str) -> bytes:
    return client.files.content(file_id).read()


# --- the seed examples --------------------------------------------------------------------------


def test_seed_upload_training_file_for_fine_tuning(
    workdir: Path, client: OpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    # Upload a JSONL file for fine-tuning
    with open("training_data.jsonl", "rb") as file:
        response = client.files.create(file=file, purpose="fine-tune")

    print(f"File ID: {response.id}")
    print(f"File size: {response.bytes} bytes")
    print(f"Status: {response.status}")

    size = len(FINE_TUNE_JSONL.encode())
    # Checks run in the background: the file is `uploaded` until they finish (or already done).
    assert response.status in ("uploaded", "processed")
    assert capsys.readouterr().out == (
        f"File ID: {response.id}\nFile size: {size} bytes\nStatus: {response.status}\n"
    )
    assert client.files.wait_for_processing(response.id, poll_interval=0.1).status == "processed"
    assert response.id.startswith("file-") and len(response.id) == 27
    assert response.filename == "training_data.jsonl"
    assert response.purpose == "fine-tune"
    assert response.expires_at is None and response.status_details is None
    assert _content(client, response.id) == FINE_TUNE_JSONL.encode()


def test_seed_upload_file_for_assistants(
    workdir: Path, client: OpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    with open("knowledge_base.pdf", "rb") as file:
        response = client.files.create(file=file, purpose="assistants")

    print(f"Uploaded: {response.filename}")
    print(f"File ID: {response.id}")

    assert capsys.readouterr().out == f"Uploaded: knowledge_base.pdf\nFile ID: {response.id}\n"
    assert response.bytes == len(PDF_BYTES) and response.purpose == "assistants"
    assert _content(client, response.id) == PDF_BYTES


def test_seed_upload_batch_file_with_expiration(
    workdir: Path, client: OpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    with open("batch_requests.jsonl", "rb") as file:
        response = client.files.create(
            file=file,
            purpose="batch",
            expires_after={
                "anchor": "created_at",
                "seconds": 86400,  # Expire after 1 day
            },
        )

    print(f"File expires at: {response.expires_at}")

    assert response.expires_at == response.created_at + 86400
    assert capsys.readouterr().out == f"File expires at: {response.expires_at}\n"
    assert client.files.retrieve(response.id).expires_at == response.created_at + 86400


def test_batch_file_without_expiry_gets_30_days(workdir: Path, client: OpenAI) -> None:
    with open("batch_requests.jsonl", "rb") as file:
        response = client.files.create(file=file, purpose="batch")
    assert response.expires_at == response.created_at + 30 * 24 * 3600


def test_seed_upload_from_path_using_pathlib(workdir: Path, client: OpenAI) -> None:
    from pathlib import Path

    file_path = Path("data/training.jsonl")

    with file_path.open("rb") as file:
        response = client.files.create(file=file, purpose="fine-tune")

    # The SDK sends the basename of the path.
    assert response.filename == "training.jsonl"
    assert response.bytes == len(FINE_TUNE_JSONL.encode())


def test_seed_wait_for_processing(
    workdir: Path, live_server: ServerProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    # Count the requests: the upload, then retrieves until the background check has finished.
    sent: list[str] = []
    http_client = httpx.Client(
        event_hooks={"request": [lambda request: sent.append(f"{request.method} {request.url}")]}
    )
    client = OpenAI(base_url=live_server.base_url, api_key=TEST_KEY, http_client=http_client)

    with open("data.jsonl", "rb") as file:
        uploaded_file = client.files.create(file=file, purpose="fine-tune")

    # Wait for the file to be processed (30 min timeout by default)
    processed_file = client.files.wait_for_processing(
        uploaded_file.id,
        poll_interval=5.0,  # Check every 5 seconds
        max_wait_seconds=1800,  # Wait up to 30 minutes
    )

    if processed_file.status == "processed":
        print("File is ready to use!")
    else:
        print(f"File processing failed: {processed_file.status_details}")

    assert capsys.readouterr().out == "File is ready to use!\n"
    assert processed_file.id == uploaded_file.id
    assert processed_file.status == "processed"
    assert sent[0] == f"POST {live_server.base_url}/files"
    assert set(sent[1:]) == {f"GET {live_server.base_url}/files/{uploaded_file.id}"}
    client.close()


def test_seed_two_line_sample_is_processed(
    tmp_path: Path, client: OpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    # The seed page's two-line sample is a legal file (e.g. a validation file); that a training
    # job needs 10 examples is only a warning in the report.
    path = tmp_path / "data.jsonl"
    path.write_text(SEED_FINE_TUNE_SAMPLE)
    with path.open("rb") as file:
        uploaded_file = client.files.create(file=file, purpose="fine-tune")
    processed_file = client.files.wait_for_processing(uploaded_file.id, poll_interval=0.1)
    if processed_file.status == "processed":
        print("File is ready to use!")
    else:
        print(f"File processing failed: {processed_file.status_details}")
    assert capsys.readouterr().out == "File is ready to use!\n"
    body = httpx.get(
        f"{client.base_url}files/{uploaded_file.id}/report",
        headers={"Authorization": f"Bearer {TEST_KEY}"},
    ).json()
    assert body["verdict"] == "valid" and body["stats"]["examples"] == 2
    assert [w["code"] for w in body["warnings"]] == ["too_few_examples"]


def test_seed_async_usage(workdir: Path, live_server: ServerProcess) -> None:
    async def seed() -> tuple[openai.types.FileObject, openai.types.FileObject]:
        client = AsyncOpenAI(base_url=live_server.base_url, api_key=TEST_KEY)

        with open("training_data.jsonl", "rb") as file:  # noqa: ASYNC230 (the seed's own code)
            response = await client.files.create(file=file, purpose="fine-tune")

        # Wait for processing asynchronously
        processed_file = await client.files.wait_for_processing(response.id)

        # Beyond the seed: the rest of the async surface.
        listed = [f.id async for f in client.files.list(limit=1)]
        assert response.id in listed
        content = await client.files.content(response.id)
        assert content.read() == FINE_TUNE_JSONL.encode()
        deleted = await client.files.delete(response.id)
        assert deleted.deleted is True and deleted.id == response.id
        await client.close()
        return response, processed_file

    response, processed = asyncio.run(asyncio.wait_for(seed(), 60))
    assert processed.status == "processed" and processed.id == response.id
    assert response.filename == "training_data.jsonl"


# --- the REST page's curl example ---------------------------------------------------------------


def _curl(*args: str) -> dict[str, object]:
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "--fail-with-body", *args],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    body: dict[str, object] = json.loads(result.stdout)
    return body


def test_seed_curl_example(live_server: ServerProcess, client: OpenAI, tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_bytes(PDF_BYTES)
    body = _curl(
        live_server.base_url + "/files",
        "-H",
        "Content-Type: multipart/form-data",
        "-H",
        f"Authorization: Bearer {TEST_KEY}",
        "-F",
        f"file=@{path}",
        "-F",
        "purpose=assistants",
    )
    assert list(body) == [
        "object",
        "id",
        "purpose",
        "filename",
        "bytes",
        "created_at",
        "expires_at",
        "status",
        "status_details",
    ]
    assert body["filename"] == "file" and body["bytes"] == len(PDF_BYTES)
    assert body["purpose"] == "assistants" and body["status"] in ("uploaded", "processed", "error")
    assert _content(client, str(body["id"])) == PDF_BYTES


def test_curl_chunked_upload(live_server: ServerProcess, client: OpenAI, tmp_path: Path) -> None:
    path = tmp_path / "chunked.jsonl"
    data = os.urandom(3 * 1024 * 1024 + 17)
    path.write_bytes(data)
    body = _curl(
        live_server.base_url + "/files",
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        f"Authorization: Bearer {TEST_KEY}",
        "-F",
        f"file=@{path}",
        "-F",
        "purpose=user_data",
    )
    assert body["bytes"] == len(data) and body["filename"] == "chunked.jsonl"
    assert _content(client, str(body["id"])) == data


# --- beyond the seeds ---------------------------------------------------------------------------


def test_auto_pagination_sees_every_file_once(client: OpenAI) -> None:
    created = [
        client.files.create(file=(f"page{i}.txt", f"{i}".encode()), purpose="evals").id
        for i in range(5)
    ]
    everything = [f.id for f in client.files.list()]
    walked = [f.id for f in client.files.list(limit=2)]
    assert walked == everything
    assert len(walked) == len(set(walked))
    # Newest first by default: our five appear in reverse creation order.
    assert [i for i in walked if i in created] == created[::-1]
    pages = list(client.files.list(limit=2).iter_pages())
    assert len(pages) == -(-len(everything) // 2)
    assert all(p.has_more for p in pages[:-1]) and not pages[-1].has_more


@pytest.mark.parametrize(
    "data",
    [b"", b"\x00", bytes(range(256))],
    ids=["0B", "1B", "256-values"],
)
def test_content_round_trip_is_byte_exact(client: OpenAI, data: bytes) -> None:
    created = client.files.create(file=("bytes.bin", data), purpose="user_data")
    assert created.bytes == len(data)
    assert _content(client, created.id) == data
    raw = client.files.with_raw_response.content(created.id)
    assert raw.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert raw.headers["content-length"] == str(len(data))


def test_content_round_trip_64_mib(client: OpenAI, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(64):
            block = os.urandom(1024 * 1024)
            digest.update(block)
            out.write(block)
    with path.open("rb") as file:
        created = client.files.create(file=file, purpose="user_data")
    assert created.bytes == 64 * 1024 * 1024
    received = hashlib.sha256()
    size = 0
    with client.files.with_streaming_response.content(created.id) as response:
        for chunk in response.iter_bytes():
            received.update(chunk)
            size += len(chunk)
    assert size == 64 * 1024 * 1024
    assert received.hexdigest() == digest.hexdigest()
    whole = client.files.content(created.id).read()
    assert len(whole) == 64 * 1024 * 1024
    assert hashlib.sha256(whole).hexdigest() == digest.hexdigest()
    del whole
    client.files.delete(created.id)


def test_list_filters_purpose_order_after(client: OpenAI) -> None:
    ids = [
        client.files.create(file=(f"v{i}.png", b"\x89PNG" + bytes([i])), purpose="vision").id
        for i in range(4)
    ]
    asc = client.files.list(purpose="vision", order="asc")
    assert [f.id for f in asc.data] == ids
    assert all(f.purpose == "vision" for f in asc.data)
    desc = client.files.list(purpose="vision", order="desc")
    assert [f.id for f in desc.data] == ids[::-1]
    after = client.files.list(purpose="vision", order="asc", after=ids[1])
    assert [f.id for f in after.data] == ids[2:]
    assert after.has_more is False
    page = client.files.list(purpose="vision", order="asc", limit=2)
    assert [f.id for f in page.data] == ids[:2] and page.has_more is True


def test_delete(client: OpenAI) -> None:
    created = client.files.create(file=("gone.txt", b"bye"), purpose="assistants")
    deleted = client.files.delete(created.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (created.id, "file", True)
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.files.delete(created.id)
    assert created.id not in [f.id for f in client.files.list()]


def test_sdk_extra_headers_are_ignored(live_server: ServerProcess) -> None:
    with OpenAI(
        base_url=live_server.base_url,
        api_key=TEST_KEY,
        organization="org-abc",
        project="proj_default",  # the key's own project: another one is a 401
        max_retries=0,
    ) as c:
        created = c.files.create(file=("h.txt", b"x"), purpose="user_data")
        assert c.files.retrieve(created.id).id == created.id
    response = httpx.delete(
        f"{live_server.base_url}/files/{created.id}",
        headers={"Authorization": f"Bearer {TEST_KEY}", "Content-Type": "application/json"},
    )
    assert response.status_code == 200 and response.json()["deleted"] is True


def test_no_bootstrap_key_when_one_is_configured(live_server: ServerProcess) -> None:
    # FILEDOCK_API_KEY is set for this server, so no key is created or printed.
    assert "Created the first API key" not in live_server.log()
    assert "sk-fd-" not in live_server.log()


def test_concurrent_async_uploads(live_server: ServerProcess) -> None:
    async def run() -> None:
        async with AsyncOpenAI(base_url=live_server.base_url, api_key=TEST_KEY) as client:
            payloads = [os.urandom(1000 + i * 4099) for i in range(24)]
            created = await asyncio.gather(
                *(
                    client.files.create(file=(f"c{i}.bin", data), purpose="user_data")
                    for i, data in enumerate(payloads)
                )
            )
            assert len({c.id for c in created}) == len(payloads)
            contents = await asyncio.gather(*(client.files.content(c.id) for c in created))
            assert [c.read() for c in contents] == payloads
            listed = {f.id async for f in client.files.list(purpose="user_data", limit=5)}
            assert {c.id for c in created} <= listed
            await asyncio.gather(*(client.files.delete(c.id) for c in created))

    asyncio.run(asyncio.wait_for(run(), 120))


def test_head_and_range_through_the_real_server(live_server: ServerProcess, client: OpenAI) -> None:
    data = bytes(range(256))
    created = client.files.create(file=("r.bin", data), purpose="user_data")
    url = f"{live_server.base_url}/files/{created.id}/content"
    auth = {"Authorization": f"Bearer {TEST_KEY}"}
    with httpx.Client(headers=auth) as http:
        head = http.head(url)
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-length"] == "256"
        part = http.get(url, headers={"Range": "bytes=-16"})
        assert part.status_code == 206 and part.content == data[-16:]
        assert part.headers["content-range"] == "bytes 240-255/256"
        # The same connection still works after HEAD and 206.
        assert http.get(url).content == data
