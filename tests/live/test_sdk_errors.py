"""Every error row of FILES_API_NOTES.md through the official `openai` package on `filedock serve`.

Each case checks the status, the SDK's exception class and the whole envelope; then a call with
`max_retries=0` on the same client must succeed over the same TCP connection (keep-alive survives).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI
from openai.types import FileObject

from tests.helpers import TEST_KEY, ServerProcess, make_server

pytestmark = pytest.mark.live

MiB = 1024 * 1024
PURPOSES = "['fine-tune', 'assistants', 'batch', 'user_data', 'vision', 'evals']"
MULTIPART = {"Content-Type": "multipart/form-data"}


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with small limits and OpenAI's download refusals switched on."""
    server = make_server(
        tmp_path_factory.mktemp("limited") / "data",
        env={
            "FILEDOCK_BATCH_MAX_BYTES": "1MiB",
            "FILEDOCK_MAX_FILE_BYTES": "2MiB",
            "FILEDOCK_RESTRICT_DOWNLOADS": "true",
        },
    ).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def client(live_server: ServerProcess) -> Iterator[OpenAI]:
    with OpenAI(base_url=live_server.base_url, api_key=TEST_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
def limited(limited_server: ServerProcess) -> Iterator[OpenAI]:
    with OpenAI(base_url=limited_server.base_url, api_key=TEST_KEY, max_retries=0) as c:
        yield c


def _local_address(response: httpx.Response) -> Any:
    return response.extensions["network_stream"].get_extra_info("client_addr")


def expect_error(
    client: OpenAI,
    call: Callable[[], object],
    exc_type: type[openai.APIStatusError],
    status: int,
    message: str,
    param: str | None,
    code: str | None = None,
    type_: str = "invalid_request_error",
) -> openai.APIStatusError:
    """Run `call`, check the error exactly, then prove the connection is still usable."""
    with pytest.raises(openai.APIStatusError) as info:
        call()
    error = info.value
    assert type(error) is exc_type
    assert error.status_code == status
    assert error.response.json() == {
        "error": {"message": message, "type": type_, "param": param, "code": code}
    }
    assert error.response.headers["x-request-id"]
    used = _local_address(error.response)
    follow_up = client.with_options(max_retries=0).files.with_raw_response.list(limit=1)
    assert follow_up.status_code == 200
    assert _local_address(follow_up.http_response) == used, "the connection was not kept alive"
    return error


# --- 404 --------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["retrieve", "delete", "content"])
def test_unknown_file_id(client: OpenAI, operation: str) -> None:
    call = getattr(client.files, operation)
    expect_error(
        client,
        lambda: call("file-doesnotexist1234567890"),
        openai.NotFoundError,
        404,
        "No such File object: file-doesnotexist1234567890",
        "id",
    )


def test_unknown_route_and_method(client: OpenAI) -> None:
    expect_error(
        client,
        lambda: client.get("/nothing-here", cast_to=httpx.Response),
        openai.NotFoundError,
        404,
        "Invalid URL (GET /v1/nothing-here)",
        None,
    )
    expect_error(
        client,
        lambda: client.put("/files", cast_to=httpx.Response),
        openai.APIStatusError,
        405,
        "Method not allowed (PUT /v1/files)",
        None,
    )


# --- 400 on upload ----------------------------------------------------------------------------


def test_invalid_purpose(client: OpenAI) -> None:
    expect_error(
        client,
        lambda: client.files.create(file=("a.jsonl", b"{}\n"), purpose="nope"),  # type: ignore[arg-type]
        openai.BadRequestError,
        400,
        f"'nope' is not one of {PURPOSES} - 'purpose'",
        "purpose",
    )


def test_missing_file_part(client: OpenAI) -> None:
    expect_error(
        client,
        lambda: client.post(
            "/files",
            body={"purpose": "fine-tune"},
            options={"headers": MULTIPART},
            cast_to=FileObject,
        ),
        openai.BadRequestError,
        400,
        "'file' is a required property",
        "file",
    )


def test_missing_purpose(client: OpenAI) -> None:
    expect_error(
        client,
        lambda: client.post(
            "/files",
            body={},
            files=[("file", ("a.jsonl", b"{}\n"))],
            options={"headers": MULTIPART},
            cast_to=FileObject,
        ),
        openai.BadRequestError,
        400,
        "'purpose' is a required property",
        "purpose",
    )


@pytest.mark.parametrize("name", ["foo", "expires_after", "expires_after[other]"])
def test_unknown_form_field(client: OpenAI, name: str) -> None:
    expect_error(
        client,
        lambda: client.files.create(
            file=("a.jsonl", b"{}\n"), purpose="fine-tune", extra_body={name: "x"}
        ),
        openai.BadRequestError,
        400,
        f"Additional properties are not allowed ('{name}' was unexpected)",
        name,
    )


def test_not_multipart(client: OpenAI) -> None:
    expect_error(
        client,
        lambda: client.post("/files", body={"purpose": "fine-tune"}, cast_to=FileObject),
        openai.BadRequestError,
        400,
        "Invalid Content-Type header (application/json), expected multipart/form-data.",
        None,
    )


@pytest.mark.parametrize(
    ("purpose", "api"), [("fine-tune", "Fine-Tuning"), ("batch", "Batch")], ids=["ft", "batch"]
)
def test_jsonl_required(client: OpenAI, purpose: str, api: str) -> None:
    expect_error(
        client,
        lambda: client.files.create(file=("data.json", b"{}\n"), purpose=purpose),  # type: ignore[arg-type]
        openai.BadRequestError,
        400,
        f"Invalid file format for {api} API. Must be .jsonl",
        "file",
    )


def test_batch_file_without_extension_is_accepted(client: OpenAI) -> None:
    created = client.files.create(file=("requests", b"{}\n"), purpose="batch")
    assert created.filename == "requests"


@pytest.mark.parametrize(
    ("fields", "message", "param"),
    [
        (
            {"expires_after[anchor]": "created_at", "expires_after[seconds]": "3599"},
            "3599 is out of range: expires_after.seconds must be between 3600 and 2592000",
            "expires_after.seconds",
        ),
        (
            {"expires_after[anchor]": "created_at", "expires_after[seconds]": "2592001"},
            "2592001 is out of range: expires_after.seconds must be between 3600 and 2592000",
            "expires_after.seconds",
        ),
        (
            {"expires_after[anchor]": "created_at", "expires_after[seconds]": "soon"},
            "'soon' is not a valid integer - 'expires_after.seconds'",
            "expires_after.seconds",
        ),
        (
            {"expires_after[anchor]": "last_active_at", "expires_after[seconds]": "3600"},
            "'last_active_at' is not one of ['created_at'] - 'expires_after.anchor'",
            "expires_after.anchor",
        ),
        (
            {"expires_after[seconds]": "3600"},
            "'anchor' is a required property",
            "expires_after.anchor",
        ),
        (
            {"expires_after[anchor]": "created_at"},
            "'seconds' is a required property",
            "expires_after.seconds",
        ),
    ],
    ids=["too-short", "too-long", "not-int", "bad-anchor", "no-anchor", "no-seconds"],
)
def test_expires_after_out_of_range(
    client: OpenAI, fields: dict[str, str], message: str, param: str
) -> None:
    expect_error(
        client,
        lambda: client.files.create(file=("a.txt", b"x"), purpose="user_data", extra_body=fields),
        openai.BadRequestError,
        400,
        message,
        param,
    )


def test_expires_after_bounds_are_inclusive(client: OpenAI) -> None:
    for seconds in (3600, 2592000):
        created = client.files.create(
            file=("a.txt", b"x"),
            purpose="user_data",
            expires_after={"anchor": "created_at", "seconds": seconds},
        )
        assert created.expires_at == created.created_at + seconds


# --- 400 on list --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message", "param"),
    [
        ({"limit": 0}, "0 is out of range: limit must be between 1 and 10000", "limit"),
        ({"limit": 10001}, "10001 is out of range: limit must be between 1 and 10000", "limit"),
        ({"limit": "many"}, "'many' is not a valid integer - 'limit'", "limit"),
        ({"order": "sideways"}, "'sideways' is not one of ['asc', 'desc'] - 'order'", "order"),
        (
            {"after": "file-nosuchcursor"},
            "No such File object: file-nosuchcursor",
            "after",
        ),
    ],
    ids=["limit-0", "limit-10001", "limit-text", "order", "after"],
)
def test_list_out_of_range(
    client: OpenAI, query: dict[str, object], message: str, param: str
) -> None:
    expect_error(
        client,
        lambda: client.files.list(extra_query=query),
        openai.BadRequestError,
        400,
        message,
        param,
    )


def test_list_unknown_purpose(client: OpenAI) -> None:
    allowed = (
        "['fine-tune', 'assistants', 'batch', 'user_data', 'vision', 'evals', "
        "'assistants_output', 'batch_output', 'fine-tune-results']"
    )
    expect_error(
        client,
        lambda: client.files.list(purpose="nope"),
        openai.BadRequestError,
        400,
        f"'nope' is not one of {allowed} - 'purpose'",
        "purpose",
    )


# --- 401 ----------------------------------------------------------------------------------------


def test_bad_api_key(live_server: ServerProcess) -> None:
    bad = "sk-wrong-0123456789abcdefWXYZ"
    with OpenAI(base_url=live_server.base_url, api_key=bad, max_retries=0) as c:
        error = expect_error(
            c.with_options(api_key=TEST_KEY),
            lambda: c.files.list(),
            openai.AuthenticationError,
            401,
            f"Incorrect API key provided: sk-{'*' * (len(bad) - 7)}WXYZ.",
            None,
            code="invalid_api_key",
        )
        assert error.response.headers["www-authenticate"] == 'Bearer realm="filedock"'
        assert bad not in error.response.text
        # Refused before its body is read, an upload still leaves the connection usable.
        expect_error(
            c.with_options(api_key=TEST_KEY),
            lambda: c.files.create(file=("a.bin", b"u" * (3 * MiB)), purpose="user_data"),
            openai.AuthenticationError,
            401,
            f"Incorrect API key provided: sk-{'*' * (len(bad) - 7)}WXYZ.",
            None,
            code="invalid_api_key",
        )


def test_missing_api_key(live_server: ServerProcess) -> None:
    response = httpx.get(live_server.base_url + "/files")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="filedock"'
    error = response.json()["error"]
    assert error["code"] == "invalid_api_key"
    assert error["type"] == "invalid_request_error" and error["param"] is None
    assert error["message"].startswith("You didn't provide an API key.")


# --- limits, and the download refusal setting -----------------------------------------------------


def _tmp_is_empty(server: ServerProcess) -> bool:
    return not any((server.data_dir / "tmp").iterdir())


def test_batch_over_limit(limited: OpenAI, limited_server: ServerProcess) -> None:
    ok = limited.files.create(file=("b.jsonl", b"x" * MiB), purpose="batch")
    assert ok.bytes == MiB
    expect_error(
        limited,
        lambda: limited.files.create(file=("b.jsonl", b"x" * (MiB + 1)), purpose="batch"),
        openai.BadRequestError,
        400,
        "File is too large.",
        "file",
        code="file_too_large",
    )
    assert _tmp_is_empty(limited_server)


def test_file_over_max_file_bytes(limited: OpenAI, limited_server: ServerProcess) -> None:
    ok = limited.files.create(file=("f.bin", b"y" * (2 * MiB)), purpose="user_data")
    assert ok.bytes == 2 * MiB
    expect_error(
        limited,
        lambda: limited.files.create(file=("f.bin", b"y" * (2 * MiB + 1)), purpose="user_data"),
        openai.BadRequestError,
        400,
        f"File is too large. The maximum size is {2 * MiB} bytes.",
        "file",
        code="file_too_large",
    )
    assert _tmp_is_empty(limited_server)


def _read_http_response(sock: socket.socket) -> tuple[str, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return head.decode("latin-1"), body


def test_declared_length_over_limit_is_answered_before_the_body(
    limited_server: ServerProcess,
) -> None:
    declared = 10 * 1024**3
    with socket.create_connection(("127.0.0.1", limited_server.port), timeout=10) as sock:
        sock.sendall(
            (
                "POST /v1/files HTTP/1.1\r\n"
                "Host: 127.0.0.1\r\n"
                f"Authorization: Bearer {TEST_KEY}\r\n"
                "Content-Type: multipart/form-data; boundary=xyz\r\n"
                f"Content-Length: {declared}\r\n\r\n"
                "--xyz\r\n"
            ).encode()
        )
        # Only a few body bytes were sent: the answer must come without the rest.
        head, body = _read_http_response(sock)
    assert head.startswith("HTTP/1.1 400"), head
    assert httpx.Response(400, content=body).json() == {
        "error": {
            "message": f"File is too large. The maximum size is {2 * MiB} bytes.",
            "type": "invalid_request_error",
            "param": "file",
            "code": "file_too_large",
        }
    }
    assert _tmp_is_empty(limited_server)


@pytest.mark.parametrize("purpose", ["assistants", "user_data"])
def test_restricted_download(limited: OpenAI, purpose: str) -> None:
    created = limited.files.create(file=("k.txt", b"secret"), purpose=purpose)  # type: ignore[arg-type]
    expect_error(
        limited,
        lambda: limited.files.content(created.id),
        openai.BadRequestError,
        400,
        f"Not allowed to download files of purpose: {purpose}",
        None,
    )


def test_restricted_download_allows_other_purposes(limited: OpenAI) -> None:
    created = limited.files.create(file=("e.jsonl", b"{}\n"), purpose="evals")
    assert limited.files.content(created.id).read() == b"{}\n"


def test_downloads_allowed_by_default(client: OpenAI) -> None:
    for purpose in ("assistants", "user_data"):
        created = client.files.create(file=("k.txt", b"mine"), purpose=purpose)  # type: ignore[arg-type]
        assert client.files.content(created.id).read() == b"mine"


def test_no_leftovers_after_rejections(live_server: ServerProcess, client: OpenAI) -> None:
    """After every rejected upload above, nothing is left in tmp and every blob has a live row."""
    assert _tmp_is_empty(live_server)
    blobs = {p.name for p in (live_server.data_dir / "blobs").rglob("*") if p.is_file()}
    assert len(blobs) == len(list(client.files.list()))


def test_oversized_body_refused_early_keeps_the_sdk_connection(
    limited: OpenAI, limited_server: ServerProcess
) -> None:
    # Content-Length is over the limit plus the framing allowance: the 400 comes before the body
    # is read, and the SDK still gets the envelope and can reuse its connection.
    expect_error(
        limited,
        lambda: limited.files.create(file=("f.bin", b"z" * (4 * MiB)), purpose="user_data"),
        openai.BadRequestError,
        400,
        f"File is too large. The maximum size is {2 * MiB} bytes.",
        "file",
        code="file_too_large",
    )
    assert _tmp_is_empty(limited_server)


def test_client_disconnect_mid_upload_leaves_nothing(
    live_server: ServerProcess, client: OpenAI
) -> None:
    before = [f.id for f in client.files.list()]
    boundary = "cut"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="cut.bin"\r\n'
        "\r\n"
    ).encode()
    tmp = live_server.data_dir / "tmp"
    with socket.create_connection(("127.0.0.1", live_server.port), timeout=10) as sock:
        sock.sendall(
            (
                "POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {TEST_KEY}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                f"Content-Length: {len(head) + 50 * MiB}\r\n\r\n"
            ).encode()
            + head
        )
        for _ in range(3):
            sock.sendall(b"\x01" * MiB)
        deadline = time.monotonic() + 20
        while not any(p.stat().st_size for p in tmp.iterdir()):
            assert time.monotonic() < deadline, "no bytes reached data_dir/tmp"
            time.sleep(0.02)
    # The client is gone: the server must notice and discard the partial upload.
    deadline = time.monotonic() + 20
    while any(tmp.iterdir()):
        assert time.monotonic() < deadline, list(tmp.iterdir())
        time.sleep(0.05)
    assert [f.id for f in client.files.list()] == before
    # A client going away is not a server fault: nothing logged as an error.
    assert "Traceback" not in live_server.log() and " ERROR " not in live_server.log()


def test_chunked_upload_over_the_limit(limited_server: ServerProcess) -> None:
    # No Content-Length: the limit is enforced while the chunks stream in.
    def body() -> Iterator[bytes]:
        yield (
            b'--cb\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n'
            b'--cb\r\nContent-Disposition: form-data; name="file"; filename="c.bin"\r\n\r\n'
        )
        for _ in range(3):
            yield b"c" * MiB
        yield b"\r\n--cb--\r\n"

    response = httpx.post(
        limited_server.base_url + "/files",
        content=body(),
        headers={
            "Authorization": f"Bearer {TEST_KEY}",
            "Content-Type": "multipart/form-data; boundary=cb",
        },
        timeout=30,
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == (
        f"File is too large. The maximum size is {2 * MiB} bytes."
    )
    assert _tmp_is_empty(limited_server)
