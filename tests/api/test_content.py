"""GET /v1/files/{id}/content in process: Range, ETag, If-None-Match, If-Range, Content-Type,
Content-Disposition, HEAD, streaming."""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from starlette.testclient import TestClient

from filedock.errors import FileNotFound
from filedock.models import DEFAULT_PROJECT_ID
from filedock.services.files import FileService
from filedock.settings import Settings
from filedock.web.responses import BlobResponse

DATA = bytes(range(256)) * 4  # 1024 bytes, every byte value


def upload(client: TestClient, name: str = "data.bin", data: bytes = DATA) -> str:
    response = client.post("/v1/files", files={"file": (name, data)}, data={"purpose": "user_data"})
    assert response.status_code == 200, response.text
    file_id: str = response.json()["id"]
    return file_id


@pytest.fixture
def file_id(client: TestClient) -> str:
    return upload(client)


def test_full_download_headers(client: TestClient, file_id: str) -> None:
    response = client.get(f"/v1/files/{file_id}/content")
    assert response.status_code == 200
    assert response.content == DATA
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["etag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'
    assert response.headers["accept-ranges"] == "bytes"
    assert "content-range" not in response.headers


def test_sdk_accept_header(client: TestClient, file_id: str) -> None:
    response = client.get(f"/v1/files/{file_id}/content", headers={"Accept": "application/binary"})
    assert response.status_code == 200 and response.content == DATA


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-9", 0, 10),
        ("bytes=10-10", 10, 11),
        ("bytes=1000-", 1000, 1024),
        ("bytes=0-", 0, 1024),
        ("bytes=-24", 1000, 1024),
        ("bytes=-5000", 0, 1024),
        ("bytes=1020-99999", 1020, 1024),
        ("bytes = 5 - 9", 5, 10),
    ],
    ids=["first", "single-byte", "open", "open-all", "suffix", "suffix-too-long", "clip", "spaces"],
)
def test_range(client: TestClient, file_id: str, header: str, start: int, end: int) -> None:
    response = client.get(f"/v1/files/{file_id}/content", headers={"Range": header})
    assert response.status_code == 206
    assert response.content == DATA[start:end]
    assert response.headers["content-length"] == str(end - start)
    assert response.headers["content-range"] == f"bytes {start}-{end - 1}/{len(DATA)}"
    assert response.headers["etag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=5000-6000", "bytes=-0"])
def test_range_not_satisfiable(client: TestClient, file_id: str, header: str) -> None:
    response = client.get(f"/v1/files/{file_id}/content", headers={"Range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"
    assert response.json() == {
        "error": {
            "message": f"Range not satisfiable: the file has {len(DATA)} bytes.",
            "type": "invalid_request_error",
            "param": "range",
            "code": "range_not_satisfiable",
        }
    }


def test_range_on_empty_file(client: TestClient) -> None:
    file_id = upload(client, "empty.bin", b"")
    response = client.get(f"/v1/files/{file_id}/content", headers={"Range": "bytes=0-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */0"
    whole = client.get(f"/v1/files/{file_id}/content")
    assert whole.status_code == 200 and whole.content == b""
    assert whole.headers["content-length"] == "0"


@pytest.mark.parametrize(
    "header",
    ["bytes=0-1,5-6", "items=0-5", "bytes=abc", "bytes=9-3", "bytes=-", "bytes"],
    ids=["multi", "unit", "garbage", "reversed", "empty-spec", "no-spec"],
)
def test_ignored_ranges_send_everything(client: TestClient, file_id: str, header: str) -> None:
    response = client.get(f"/v1/files/{file_id}/content", headers={"Range": header})
    assert response.status_code == 200
    assert response.content == DATA
    assert "content-range" not in response.headers


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.pdf", "application/pdf"),
        ("a.jsonl", "application/jsonl"),
        ("A.JSONL", "application/jsonl"),
        ("a.json", "application/json"),
        ("a.png", "image/png"),
        ("a.md", "text/markdown"),
        ("a.csv", "text/csv"),
        ("noextension", "application/octet-stream"),
        ("a.unknownext", "application/octet-stream"),
    ],
)
def test_content_type_from_filename(client: TestClient, name: str, expected: str) -> None:
    file_id = upload(client, name, b"x")
    response = client.get(f"/v1/files/{file_id}/content")
    assert response.headers["content-type"].split(";")[0] == expected


def _disposition_params(header: str) -> dict[str, str]:
    return dict(re.findall(r';\s*([a-z*]+)=("[^"]*"|[^;]*)', header))


@pytest.mark.parametrize(
    "name",
    [
        'quote"s.txt',
        "semi;colon.txt",
        "back\\slash.txt",
        "naïve €.txt",
        "日本語.txt",
        "percent%41.txt",
        "plain.txt",
    ],
)
def test_content_disposition_is_safe(client: TestClient, name: str) -> None:
    file_id = upload(client, name, b"x")
    # A backslash counts as a folder separator: only the basename is kept.
    stored = client.get(f"/v1/files/{file_id}").json()["filename"]
    assert stored == name.replace("\\", "/").rsplit("/", 1)[-1]
    header = client.get(f"/v1/files/{file_id}/content").headers["content-disposition"]
    header.encode("ascii")  # pure ASCII: safe for every client
    assert header.startswith("attachment;")
    params = _disposition_params(header)
    fallback = params["filename"]
    assert fallback.startswith('"') and fallback.endswith('"')
    assert not set(fallback[1:-1]) & set('"\\;%')
    exact = params["filename*"]
    assert exact.startswith("UTF-8''")
    assert urllib.parse.unquote(exact.removeprefix("UTF-8''")) == stored


def test_head_content(client: TestClient, file_id: str) -> None:
    response = client.head(f"/v1/files/{file_id}/content")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(DATA))
    assert response.headers["etag"] == f'"{hashlib.sha256(DATA).hexdigest()}"'


def test_head_file_and_missing(client: TestClient, file_id: str) -> None:
    assert client.head(f"/v1/files/{file_id}").status_code == 200
    assert client.head("/v1/files/file-missing/content").status_code == 404


def test_content_of_deleted_file(client: TestClient, file_id: str) -> None:
    client.delete(f"/v1/files/{file_id}")
    response = client.get(f"/v1/files/{file_id}/content")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == f"No such File object: {file_id}"


def test_missing_bytes_are_a_500_not_a_truncated_200(
    client: TestClient, file_id: str, settings: Settings
) -> None:
    for path in (settings.data_dir / "blobs").rglob("*"):
        if path.is_file():
            path.unlink()
    response = client.get(f"/v1/files/{file_id}/content")
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "server_error"
    assert response.headers["x-request-id"]


def test_file_deleted_between_lookup_and_read_is_a_404(client: TestClient, file_id: str) -> None:
    service: FileService = client.app.state.components.files  # type: ignore[attr-defined]
    record = client.portal.call(service.download_file, DEFAULT_PROJECT_ID, file_id)  # type: ignore[union-attr]
    assert client.delete(f"/v1/files/{file_id}").status_code == 200
    with pytest.raises(FileNotFound):
        client.portal.call(service.open_content, record, 0, record.bytes)  # type: ignore[union-attr]


def test_head_does_not_read_the_bytes(client: TestClient, file_id: str, settings: Settings) -> None:
    # With the bytes gone, a GET fails (see above) while a HEAD, which never reads them, does not.
    for path in (settings.data_dir / "blobs").rglob("*"):
        if path.is_file():
            path.unlink()
    response = client.head(f"/v1/files/{file_id}/content", headers={"Range": "bytes=0-9"})
    assert response.status_code == 206
    assert response.headers["content-length"] == "10"
    assert response.headers["content-range"] == f"bytes 0-9/{len(DATA)}"


# --- conditional requests: ETag, If-None-Match, If-Range ------------------------------------
ETAG = f'"{hashlib.sha256(DATA).hexdigest()}"'


@pytest.mark.parametrize(
    "header",
    [ETAG, f"W/{ETAG}", f'"other", {ETAG}', "*"],
    ids=["exact", "weak", "in-list", "star"],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_if_none_match_gives_304(
    client: TestClient, file_id: str, header: str, method: str
) -> None:
    response = client.request(
        method, f"/v1/files/{file_id}/content", headers={"If-None-Match": header}
    )
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == ETAG
    assert "content-length" not in response.headers and "content-range" not in response.headers


def test_if_none_match_wins_over_range(client: TestClient, file_id: str) -> None:
    response = client.get(
        f"/v1/files/{file_id}/content", headers={"If-None-Match": ETAG, "Range": "bytes=0-9"}
    )
    assert response.status_code == 304


def test_if_none_match_other_tag_sends_the_file(client: TestClient, file_id: str) -> None:
    response = client.get(f"/v1/files/{file_id}/content", headers={"If-None-Match": '"other"'})
    assert response.status_code == 200 and response.content == DATA


def test_if_range_matching_serves_the_range(client: TestClient, file_id: str) -> None:
    response = client.get(
        f"/v1/files/{file_id}/content", headers={"Range": "bytes=10-19", "If-Range": ETAG}
    )
    assert response.status_code == 206
    assert response.content == DATA[10:20]
    assert response.headers["content-range"] == f"bytes 10-19/{len(DATA)}"


@pytest.mark.parametrize(
    "if_range",
    ['"other"', f"W/{ETAG}", "Wed, 21 Oct 2015 07:28:00 GMT"],
    ids=["other-tag", "weak-tag", "date"],
)
@pytest.mark.parametrize("range_header", ["bytes=10-19", "bytes=5000-"], ids=["ok", "past-end"])
def test_if_range_not_matching_sends_the_whole_file(
    client: TestClient, file_id: str, if_range: str, range_header: str
) -> None:
    # The client's partial copy is of other bytes: a range of these would corrupt it.
    response = client.get(
        f"/v1/files/{file_id}/content", headers={"Range": range_header, "If-Range": if_range}
    )
    assert response.status_code == 200
    assert response.content == DATA
    assert "content-range" not in response.headers
    assert response.headers["content-length"] == str(len(DATA))


def test_big_file_streams_whole_and_in_ranges(client: TestClient) -> None:
    # Several read chunks (1 MiB each) with ranges across chunk boundaries.
    big = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32 + 7)
    file_id = upload(client, "big.bin", big)
    whole = client.get(f"/v1/files/{file_id}/content")
    assert whole.status_code == 200 and whole.content == big
    for start, end in [(0, 1024 * 1024 + 1), (1024 * 1024 - 5, 2 * 1024 * 1024 + 5)]:
        span = {"Range": f"bytes={start}-{end - 1}"}
        part = client.get(f"/v1/files/{file_id}/content", headers=span)
        assert part.status_code == 206 and part.content == big[start:end]
    tail = client.get(f"/v1/files/{file_id}/content", headers={"Range": "bytes=-100"})
    assert tail.content == big[-100:]


@pytest.mark.anyio
async def test_a_disconnected_client_stops_the_reading() -> None:
    # Before ASGI 2.4 a server swallows what is sent to a gone client: the response itself
    # must notice the disconnect and stop pulling chunks from the store.
    chunk = b"x" * 65536
    size = 1024 * len(chunk)
    pulled = 0
    released = anyio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal pulled
        try:
            for _ in range(size // len(chunk)):
                pulled += 1
                yield chunk
                await anyio.lowlevel.checkpoint()
        finally:
            released.set()

    async def open_range(start: int, end: int) -> AsyncIterator[bytes]:
        return chunks()

    response = BlobResponse(size=size, filename="a.bin", digest="abc", open_range=open_range)
    sent: list[dict[str, object]] = []
    disconnect = anyio.Event()

    async def send(message: Any) -> None:
        sent.append(message)
        if len(sent) == 3:  # start and two body chunks, then the client goes away
            disconnect.set()

    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> Any:
        if messages:
            return messages.pop()
        await disconnect.wait()
        return {"type": "http.disconnect"}

    scope = {"type": "http", "method": "GET", "headers": [], "asgi": {"spec_version": "2.3"}}
    await response(scope, receive, send)
    assert released.is_set()
    assert pulled < 10  # far from the 1,024 chunks of the whole body
    assert sent[0]["status"] == 200


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
