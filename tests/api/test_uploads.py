"""POST /v1/files in process: filenames, part order, field rules, malformed bodies, no leftovers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from filedock.settings import Settings

BOUNDARY = "----filedockTestBoundary"
CTYPE = f"multipart/form-data; boundary={BOUNDARY}"


def part(disposition: bytes, value: bytes, content_type: bytes | None = None) -> bytes:
    head = b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: form-data; " + disposition
    if content_type:
        head += b"\r\nContent-Type: " + content_type
    return head + b"\r\n\r\n" + value + b"\r\n"


def body(*parts: bytes, close: bool = True) -> bytes:
    return b"".join(parts) + (b"--" + BOUNDARY.encode() + b"--\r\n" if close else b"")


def file_part(filename: bytes, value: bytes = b"{}\n") -> bytes:
    return part(b'name="file"; filename="' + filename + b'"', value, b"application/octet-stream")


def purpose_part(purpose: bytes = b"user_data") -> bytes:
    return part(b'name="purpose"', purpose)


def post(client: TestClient, content: bytes, content_type: str | None = CTYPE) -> object:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return client.post("/v1/files", content=content, headers=headers)


@pytest.fixture
def data_dir(settings: Settings) -> Path:
    return settings.data_dir


def leftovers(data_dir: Path) -> list[Path]:
    """Everything in tmp/ and blobs/: after a rejected upload into an empty store, nothing."""
    return [p for sub in ("tmp", "blobs") for p in (data_dir / sub).rglob("*") if p.is_file()]


@pytest.fixture
def rejected(client: TestClient, data_dir: Path) -> Iterator[TestClient]:
    """A client for uploads that must all fail; afterwards nothing may remain on disk or listed."""
    yield client
    assert leftovers(data_dir) == []
    assert client.get("/v1/files").json()["data"] == []


def upload_name(client: TestClient, disposition: bytes) -> str:
    response = client.post(
        "/v1/files",
        content=body(
            purpose_part(),
            part(b'name="file"; ' + disposition, b"abc", b"text/plain"),
        ),
        headers={"Content-Type": CTYPE},
    )
    assert response.status_code == 200, response.text
    name: str = response.json()["filename"]
    return name


# --- filenames -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('filename="résumé 📄.txt"'.encode(), "résumé 📄.txt"),
        (b'filename="say %22hi%22.txt"', 'say "hi".txt'),
        (b'filename="a \\"quoted\\" name.txt"', 'a "quoted" name.txt'),
        (b"filename*=utf-8''%E2%82%AC%20rate.txt", "€ rate.txt"),
        (b"filename=\"fallback.txt\"; filename*=UTF-8''na%C3%AFve.txt", "naïve.txt"),
        (b"filename*=UTF-8''na%C3%AFve.txt; filename=\"fallback.txt\"", "naïve.txt"),
        (b'filename="../../etc/passwd"', "passwd"),
        (b'filename="C:\\\\Users\\\\me\\\\report.txt"', "report.txt"),
        (b'filename="/abs/path/data.csv"', "data.csv"),
        (b'filename=""', "upload"),
        (b'filename="tab\tand\x7fdel.txt"', "tabanddel.txt"),
        (b"filename=plain.txt", "plain.txt"),
    ],
    ids=[
        "utf8",
        "pct22",
        "backslash-escape",
        "rfc5987",
        "star-wins",
        "star-wins-first",
        "dotdot",
        "windows",
        "absolute",
        "empty",
        "controls",
        "unquoted",
    ],
)
def test_filename_forms(client: TestClient, disposition: bytes, expected: str) -> None:
    assert upload_name(client, disposition) == expected


def test_bytes_without_a_name_are_called_upload(client: TestClient) -> None:
    # httpx (the SDK's transport) names raw bytes "upload", as the SDK does.
    response = client.post("/v1/files", files={"file": b"raw"}, data={"purpose": "user_data"})
    assert response.status_code == 200, response.text
    assert response.json()["filename"] == "upload"


def test_filename_is_never_a_path_on_disk(client: TestClient, data_dir: Path) -> None:
    upload_name(client, b'filename="../../escape.txt"')
    assert not (data_dir.parent / "escape.txt").exists()
    assert not any(p.name == "escape.txt" for p in data_dir.rglob("*"))


# --- part order and field rules ---------------------------------------------------------------


def test_file_part_before_purpose(client: TestClient) -> None:
    response = post(
        client,
        body(
            file_part(b"first.jsonl", b'{"a": 1}\n'),
            purpose_part(b"fine-tune"),
            part(b'name="expires_after[seconds]"', b"7200"),
            part(b'name="expires_after[anchor]"', b"created_at"),
        ),
    )
    assert response.status_code == 200, response.text  # type: ignore[attr-defined]
    created = response.json()  # type: ignore[attr-defined]
    assert created["purpose"] == "fine-tune" and created["bytes"] == 9
    assert created["expires_at"] == created["created_at"] + 7200


def test_file_first_then_bad_purpose(rejected: TestClient) -> None:
    response = post(rejected, body(file_part(b"a.jsonl"), purpose_part(b"nope")))
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert response.json()["error"]["param"] == "purpose"  # type: ignore[attr-defined]


def test_file_first_then_wrong_type(rejected: TestClient) -> None:
    response = post(rejected, body(file_part(b"a.csv"), purpose_part(b"fine-tune")))
    assert response.json()["error"] == {  # type: ignore[attr-defined]
        "message": "Invalid file format for Fine-Tuning API. Must be .jsonl",
        "type": "invalid_request_error",
        "param": "file",
        "code": None,
    }


def _error(response: object) -> dict[str, object]:
    assert response.status_code == 400, response.text  # type: ignore[attr-defined]
    error: dict[str, object] = response.json()["error"]  # type: ignore[attr-defined]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    return error


def test_unknown_field(rejected: TestClient) -> None:
    error = _error(
        post(rejected, body(purpose_part(), part(b'name="model"', b"x"), file_part(b"a.txt")))
    )
    assert error["message"] == "Additional properties are not allowed ('model' was unexpected)"
    assert error["param"] == "model"


def test_unknown_file_field(rejected: TestClient) -> None:
    error = _error(
        post(rejected, body(purpose_part(), part(b'name="doc"; filename="a.txt"', b"x")))
    )
    assert error["message"] == "Additional properties are not allowed ('doc' was unexpected)"


def test_duplicate_field(rejected: TestClient) -> None:
    error = _error(post(rejected, body(purpose_part(), purpose_part(), file_part(b"a.txt"))))
    assert error["message"] == "'purpose' was given more than once"
    assert error["param"] == "purpose"


def test_two_file_parts(rejected: TestClient) -> None:
    error = _error(post(rejected, body(purpose_part(), file_part(b"a.txt"), file_part(b"b.txt"))))
    assert error["message"] == "Only one 'file' part is allowed"


def test_file_as_text_field(rejected: TestClient) -> None:
    error = _error(post(rejected, body(purpose_part(), part(b'name="file"', b"abc"))))
    assert error["param"] == "file"


def test_purpose_as_file_part(rejected: TestClient) -> None:
    error = _error(
        post(rejected, body(part(b'name="purpose"; filename="p.txt"', b"batch"), file_part(b"a")))
    )
    assert error["param"] == "purpose"


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("application/json", "application/json"),
        ("text/plain", "text/plain"),
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        (None, "None"),
    ],
)
def test_not_multipart(rejected: TestClient, content_type: str | None, shown: str) -> None:
    error = _error(post(rejected, b'{"purpose": "batch"}', content_type))
    assert error["message"] == (
        f"Invalid Content-Type header ({shown}), expected multipart/form-data."
    )


def test_multipart_without_boundary(rejected: TestClient) -> None:
    error = _error(post(rejected, body(purpose_part()), "multipart/form-data"))
    assert str(error["message"]).startswith("Invalid Content-Type header (multipart/form-data)")


@pytest.mark.parametrize(
    "content",
    [
        b"this is not multipart at all",
        b"--" + BOUNDARY.encode() + b"\r\nno-colon-header\r\n\r\nx\r\n",
        b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: attachment\r\n\r\nx\r\n"
        b"--" + BOUNDARY.encode() + b"--\r\n",
        b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: form-data\r\n\r\nx\r\n"
        b"--" + BOUNDARY.encode() + b"--\r\n",
        b"",
    ],
    ids=["garbage", "bad-header", "not-form-data", "no-name", "empty"],
)
def test_malformed_multipart(rejected: TestClient, content: bytes) -> None:
    error = _error(post(rejected, content))
    assert str(error["message"]).startswith("Invalid multipart body")


def test_truncated_body(rejected: TestClient) -> None:
    truncated = body(purpose_part(), file_part(b"a.txt", b"x" * 100_000), close=False)[:-50]
    error = _error(post(rejected, truncated))
    assert error["message"] == "Invalid multipart body: it ends before the closing boundary."


def test_missing_closing_boundary(rejected: TestClient) -> None:
    error = _error(post(rejected, body(purpose_part(), file_part(b"a.txt"), close=False)))
    assert error["message"] == "Invalid multipart body: it ends before the closing boundary."


def test_field_not_utf8(rejected: TestClient) -> None:
    error = _error(post(rejected, body(part(b'name="purpose"', b"\xff\xfe"), file_part(b"a"))))
    assert error["param"] == "purpose"


def test_huge_text_field(rejected: TestClient) -> None:
    error = _error(post(rejected, body(part(b'name="purpose"', b"a" * 200_000), file_part(b"a"))))
    assert error["message"] == "Form field 'purpose' is too long."


def test_file_too_large_while_streaming(tmp_path: Path) -> None:
    from filedock.web import create_app
    from tests.conftest import AUTH

    settings = Settings(
        data_dir=tmp_path / "d", api_key=AUTH["Authorization"][7:], max_file_bytes=1000
    )
    with TestClient(create_app(settings), headers=AUTH) as client:
        ok = post(client, body(purpose_part(), file_part(b"a.bin", b"z" * 1000)))
        assert ok.status_code == 200  # type: ignore[attr-defined]
        error = _error(post(client, body(purpose_part(), file_part(b"a.bin", b"z" * 1001))))
        assert error["code"] == "file_too_large"
        assert error["message"] == "File is too large. The maximum size is 1000 bytes."
        # Only the accepted file's blob remains.
        assert len(leftovers(settings.data_dir)) == 1


def test_no_leftovers_with_real_content(rejected: TestClient) -> None:
    # The file part is fully written to a temporary blob before the rule check fails.
    content = body(file_part(b"big.txt", b"q" * (3 * 1024 * 1024)), purpose_part(b"batch"))
    error = _error(post(rejected, content))
    assert error["message"] == "Invalid file format for Batch API. Must be .jsonl"


def test_every_upload_purpose(client: TestClient) -> None:
    names = {
        "fine-tune": "a.jsonl",
        "batch": "a.jsonl",
        "assistants": "a.pdf",
        "vision": "a.png",
        "user_data": "a.bin",
        "evals": "a.jsonl",
    }
    for purpose, name in names.items():
        response = client.post(
            "/v1/files", files={"file": (name, b"{}\n")}, data={"purpose": purpose}
        )
        assert response.status_code == 200, response.text
        assert response.json()["purpose"] == purpose


@pytest.mark.parametrize("purpose", ["assistants_output", "batch_output", "fine-tune-results"])
def test_system_purposes_cannot_be_uploaded(rejected: TestClient, purpose: str) -> None:
    error = _error(post(rejected, body(purpose_part(purpose.encode()), file_part(b"a.jsonl"))))
    assert error["param"] == "purpose"
