"""The Uploads API in process: the real app, real SQLite file and real blob folder."""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from filedock.clock import Clock, FakeClock
from filedock.components import Components
from filedock.settings import Settings
from filedock.web import create_app
from tests.conftest import AUTH

UPLOAD_KEYS = ["id", "object", "bytes", "created_at", "filename", "purpose", "status", "expires_at"]


def make_client(settings: Settings, clock: Clock | None = None) -> TestClient:
    app = create_app(settings, clock=clock)
    return TestClient(app, headers=AUTH, raise_server_exceptions=False)


@pytest.fixture
def small_parts(settings: Settings) -> Iterator[TestClient]:
    """An app whose parts may be at most 1000 bytes, so the limit is cheap to test exactly."""
    with make_client(settings.replace(upload_part_max_bytes=1000)) as c:
        yield c


def components(client: TestClient) -> Components:
    found: Components = client.app.state.components  # type: ignore[attr-defined]
    return found


def create(client: TestClient, size: int, **extra: Any) -> dict[str, Any]:
    # user_data: no content checks, so random bytes make a `processed` file whatever the
    # validation rules (those are tested where they live).
    body = {"filename": "data.bin", "purpose": "user_data", "bytes": size}
    body["mime_type"] = "application/octet-stream"
    body.update(extra)
    response = client.post("/v1/uploads", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def add_part(client: TestClient, upload_id: str, data: bytes) -> Any:
    return client.post(f"/v1/uploads/{upload_id}/parts", files={"data": ("blob", data)})


def part_id(client: TestClient, upload_id: str, data: bytes) -> str:
    response = add_part(client, upload_id, data)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"]
    assert list(body["error"]) == ["message", "type", "param", "code"]
    result: dict[str, Any] = body["error"]
    return result


def blob_files(data_dir: Path) -> list[Path]:
    """Every stored blob: a file, or a composed folder of segments."""
    return sorted((data_dir / "blobs").glob("*/*"))


def blob_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.iterdir())
    return path.stat().st_size


def test_create_parts_complete_in_any_order(client: TestClient, settings: Settings) -> None:
    chunks = [os.urandom(random.randint(1, 5000)) for _ in range(7)]
    content = b"".join(chunks)
    upload = create(client, len(content))
    assert list(upload) == UPLOAD_KEYS
    assert upload["status"] == "pending" and upload["object"] == "upload"
    assert upload["id"].startswith("upload_") and len(upload["id"]) == 39
    assert upload["expires_at"] == upload["created_at"] + 3600
    # Parts arrive in a shuffled order; part_ids give the file order.
    order = list(range(len(chunks)))
    random.shuffle(order)
    ids: dict[int, str] = {}
    for index in order:
        response = add_part(client, upload["id"], chunks[index])
        assert response.status_code == 200
        part = response.json()
        assert list(part) == ["id", "object", "created_at", "upload_id"]
        assert part["object"] == "upload.part" and part["upload_id"] == upload["id"]
        assert part["id"].startswith("part_") and len(part["id"]) == 37
        ids[index] = part["id"]
    done = client.post(
        f"/v1/uploads/{upload['id']}/complete", json={"part_ids": [ids[i] for i in range(7)]}
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert list(body) == [*UPLOAD_KEYS, "file"]
    assert body["status"] == "completed"
    file = body["file"]
    assert file["bytes"] == len(content) and file["filename"] == "data.bin"
    assert file["purpose"] == "user_data" and file["status"] == "processed"
    assert client.get(f"/v1/files/{file['id']}").json() == file
    fetched = client.get(f"/v1/files/{file['id']}/content")
    assert fetched.content == content
    # The stored digest is the documented composite of the parts' sha256, in file order.
    outer = hashlib.sha256(b"".join(hashlib.sha256(c).digest() for c in chunks)).hexdigest()
    assert fetched.headers["etag"] == f'"{outer}-7"'
    # The SDK retries complete: the same completed Upload comes back.
    again = client.post(f"/v1/uploads/{upload['id']}/complete", json={"part_ids": []})
    assert again.json() == body
    # Only the composed file's bytes remain; the parts are gone.
    assert [blob_size(p) for p in blob_files(settings.data_dir)] == [len(content)]


def test_md5_checked_when_given(client: TestClient) -> None:
    content = os.urandom(3000)
    upload = create(client, len(content))
    ids = [
        part_id(client, upload["id"], content[:1000]),
        part_id(client, upload["id"], content[1000:]),
    ]
    url = f"/v1/uploads/{upload['id']}/complete"
    wrong = hashlib.md5(b"other").hexdigest()
    err = error(client.post(url, json={"part_ids": ids, "md5": wrong}), 400)
    right = hashlib.md5(content).hexdigest()
    assert err == {
        "message": f"md5 mismatch: the uploaded bytes have md5 {right}, but the request says "
        f"{wrong}.",
        "type": "invalid_request_error",
        "param": "md5",
        "code": None,
    }
    # The Upload stays pending: the right md5 completes it.
    done = client.post(url, json={"part_ids": ids, "md5": right.upper()})
    assert done.status_code == 200, done.text
    assert client.get(f"/v1/files/{done.json()['file']['id']}/content").content == content


def test_empty_upload_and_text_field_part(client: TestClient) -> None:
    empty = create(client, 0)
    done = client.post(f"/v1/uploads/{empty['id']}/complete", json={"part_ids": []})
    assert done.status_code == 200 and done.json()["file"]["bytes"] == 0
    # curl -F data=... sends the bytes as a text field; it streams like a file part.
    upload = create(client, 5)
    body = b'--b0\r\nContent-Disposition: form-data; name="data"\r\n\r\nhello\r\n--b0--\r\n'
    response = client.post(
        f"/v1/uploads/{upload['id']}/parts",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=b0"},
    )
    assert response.status_code == 200, response.text
    done = client.post(
        f"/v1/uploads/{upload['id']}/complete", json={"part_ids": [response.json()["id"]]}
    )
    assert client.get(f"/v1/files/{done.json()['file']['id']}/content").content == b"hello"


def test_expires_after_and_batch_default(client: TestClient) -> None:
    upload = create(client, 2, expires_after={"anchor": "created_at", "seconds": 7200})
    done = client.post(
        f"/v1/uploads/{upload['id']}/complete",
        json={"part_ids": [part_id(client, upload["id"], b"{}")]},
    )
    file = done.json()["file"]
    assert file["expires_at"] == file["created_at"] + 7200
    batch = create(client, 2, purpose="batch", filename="b.jsonl")
    done = client.post(
        f"/v1/uploads/{batch['id']}/complete",
        json={"part_ids": [part_id(client, batch["id"], b"{}")]},
    )
    file = done.json()["file"]
    assert file["expires_at"] == file["created_at"] + 30 * 24 * 3600


GiB = 1024**3
CREATE_ERRORS: list[tuple[dict[str, Any], str, str | None, str | None]] = [
    ({"filename": None}, "'filename' is a required property", "filename", None),
    ({"mime_type": None}, "'mime_type' is a required property", "mime_type", None),
    ({"bytes": None}, "'bytes' is a required property", "bytes", None),
    ({"purpose": None}, "'purpose' is a required property", "purpose", None),
    ({"filename": 5}, "5 is not of type 'string' - 'filename'", "filename", None),
    ({"filename": " "}, "'filename' must not be empty", "filename", None),
    ({"bytes": "10"}, "\"10\" is not of type 'integer' - 'bytes'", "bytes", None),
    ({"bytes": True}, "true is not of type 'integer' - 'bytes'", "bytes", None),
    ({"bytes": -1}, "-1 is less than the minimum of 0 - 'bytes'", "bytes", None),
    (
        {"purpose": "fine-tune-results"},
        "'fine-tune-results' is not one of ['fine-tune', 'assistants', 'batch', 'user_data', "
        "'vision', 'evals'] - 'purpose'",
        "purpose",
        None,
    ),
    (
        {"bytes": 8 * GiB + 1},
        f"Upload is too large: bytes is {8 * GiB + 1}, the maximum is {8 * GiB} bytes.",
        "bytes",
        "file_too_large",
    ),
    (
        {"purpose": "batch", "bytes": 200 * 1024 * 1024 + 1},
        "File is too large.",
        "bytes",
        "file_too_large",
    ),
    (
        {"filename": "data.csv"},
        "Invalid file format for Fine-Tuning API. Must be .jsonl",
        "filename",
        None,
    ),
    (
        {"purpose": "batch", "filename": "b.txt"},
        "Invalid file format for Batch API. Must be .jsonl",
        "filename",
        None,
    ),
    (
        {"mime_type": "text/ jsonl"},
        "Invalid mime_type \"text/ jsonl\": expected a MIME type such as 'application/jsonl'",
        "mime_type",
        None,
    ),
    (
        {"mime_type": ""},
        "Invalid mime_type \"\": expected a MIME type such as 'application/jsonl'",
        "mime_type",
        None,
    ),
    (
        {"color": "red"},
        "Additional properties are not allowed ('color' was unexpected)",
        "color",
        None,
    ),
    (
        {"expires_after": {"anchor": "created_at", "seconds": 60}},
        "60 is out of range: expires_after.seconds must be between 3600 and 2592000",
        "expires_after.seconds",
        None,
    ),
    (
        {"expires_after": {"anchor": "last_active_at", "seconds": 3600}},
        "'last_active_at' is not one of ['created_at'] - 'expires_after.anchor'",
        "expires_after.anchor",
        None,
    ),
    (
        {"expires_after": {"anchor": "created_at"}},
        "'seconds' is a required property",
        "expires_after.seconds",
        None,
    ),
    (
        {"expires_after": {"anchor": "created_at", "seconds": 3600, "x": 1}},
        "Additional properties are not allowed ('x' was unexpected)",
        "expires_after.x",
        None,
    ),
    (
        {"expires_after": 3600},
        "3600 is not of type 'object' - 'expires_after'",
        "expires_after",
        None,
    ),
]


@pytest.mark.parametrize(("change", "message", "param", "code"), CREATE_ERRORS)
def test_create_errors(
    client: TestClient, change: dict[str, Any], message: str, param: str | None, code: str | None
) -> None:
    body: dict[str, Any] = {
        "filename": "data.jsonl",
        "purpose": "fine-tune",
        "bytes": 10,
        "mime_type": "application/jsonl",
    }
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    err = error(client.post("/v1/uploads", json=body), 400)
    assert err == {
        "message": message,
        "type": "invalid_request_error",
        "param": param,
        "code": code,
    }


def test_create_limits_are_inclusive(client: TestClient) -> None:
    assert create(client, 8 * GiB)["bytes"] == 8 * GiB
    assert (
        create(client, 200 * 1024 * 1024, purpose="batch", filename="b.jsonl")["status"]
        == "pending"
    )
    assert create(client, 1, filename="batch-input", purpose="batch")["filename"] == "batch-input"
    assert create(client, 1, mime_type="pdf", filename="x.pdf", purpose="assistants")


@pytest.mark.parametrize("raw", [b"", b"{", b"[1, 2]", b"null"])
def test_invalid_json_bodies(client: TestClient, raw: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    err = error(client.post("/v1/uploads", content=raw, headers=headers), 400)
    assert err["type"] == "invalid_request_error" and err["param"] is None
    assert "JSON" in err["message"]
    upload = create(client, 1)
    err = error(
        client.post(f"/v1/uploads/{upload['id']}/complete", content=raw, headers=headers), 400
    )
    assert "JSON" in err["message"]


def test_unknown_upload_is_404_everywhere(client: TestClient) -> None:
    missing = "upload_" + "0" * 32
    expected = {
        "message": f"No such Upload object: {missing}",
        "type": "invalid_request_error",
        "param": "upload_id",
        "code": None,
    }
    assert error(add_part(client, missing, b"x"), 404) == expected
    assert error(client.post(f"/v1/uploads/{missing}/complete", json={"part_ids": []}), 404) == (
        expected
    )
    assert error(client.post(f"/v1/uploads/{missing}/cancel"), 404) == expected


def test_part_errors(small_parts: TestClient) -> None:
    client = small_parts
    upload = create(client, 2500)
    url = f"/v1/uploads/{upload['id']}/parts"
    # Exactly the part limit is accepted, one byte more is not.
    first = part_id(client, upload["id"], b"a" * 1000)
    err = error(add_part(client, upload["id"], b"a" * 1001), 400)
    assert err == {
        "message": "Part is too large. The maximum size of an upload part is 1000 bytes.",
        "type": "invalid_request_error",
        "param": "data",
        "code": "file_too_large",
    }
    second = part_id(client, upload["id"], b"b" * 1000)
    err = error(add_part(client, upload["id"], b"c" * 501), 400)
    assert err["param"] == "data" and err["message"] == (
        f"Part is too large: upload {upload['id']} was created with bytes=2500 and already has "
        "2000 bytes; 501 more would exceed it."
    )
    err = error(client.post(url, files={"file": ("x", b"1")}), 400)
    assert err["message"] == "Additional properties are not allowed ('file' was unexpected)"
    assert err["param"] == "file"
    err = error(client.post(url, data={"other": "1"}, files={"data": ("x", b"1")}), 400)
    assert err["param"] == "other"
    boundary = "b0undary"
    err = error(
        client.post(
            url,
            content=f"--{boundary}--\r\n".encode(),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        ),
        400,
    )
    assert err == {
        "message": "'data' is a required property",
        "type": "invalid_request_error",
        "param": "data",
        "code": None,
    }
    err = error(client.post(url, json={"data": "x"}), 400)
    assert err["message"] == (
        "Invalid Content-Type header (application/json), expected multipart/form-data."
    )
    err = error(
        client.post(url, files=[("data", ("a", b"1")), ("data", ("b", b"2"))]),
        400,
    )
    assert err["message"] == "Only one 'data' field is allowed"
    # Failed parts left nothing: the two good ones and the last 500 bytes complete it.
    third = part_id(client, upload["id"], b"c" * 500)
    done = client.post(
        f"/v1/uploads/{upload['id']}/complete", json={"part_ids": [first, second, third]}
    )
    assert done.status_code == 200, done.text
    assert len(blob_files(components(client).settings.data_dir)) == 1


def test_complete_errors(client: TestClient) -> None:
    upload = create(client, 30)
    other = create(client, 10)
    a = part_id(client, upload["id"], b"a" * 10)
    b = part_id(client, upload["id"], b"b" * 20)
    foreign = part_id(client, other["id"], b"c" * 10)
    url = f"/v1/uploads/{upload['id']}/complete"

    def check(body: Any, message: str, param: str | None) -> None:
        assert error(client.post(url, json=body), 400) == {
            "message": message,
            "type": "invalid_request_error",
            "param": param,
            "code": None,
        }

    check({}, "'part_ids' is a required property", "part_ids")
    check({"part_ids": a}, f"\"{a}\" is not of type 'array' - 'part_ids'", "part_ids")
    check({"part_ids": [1]}, "1 is not of type 'string' - 'part_ids'", "part_ids")
    check(
        {"part_ids": [a], "x": 1}, "Additional properties are not allowed ('x' was unexpected)", "x"
    )
    check(
        {"part_ids": [a, b], "md5": "abc"},
        'Invalid md5 "abc": expected 32 hexadecimal digits',
        "md5",
    )
    check({"part_ids": [a, a, b]}, f"Duplicate part id in part_ids: {a}", "part_ids")
    check(
        {"part_ids": [a, foreign]},
        f"No such Part object: {foreign} (not a part of upload {upload['id']})",
        "part_ids",
    )
    check(
        {"part_ids": [b]},
        f"The parts in part_ids total 20 bytes, but upload {upload['id']} was created with "
        "bytes=30.",
        "part_ids",
    )
    # Nothing of the failed attempts sticks: the right list completes it.
    done = client.post(url, json={"part_ids": [b, a]})
    assert done.status_code == 200
    assert client.get(f"/v1/files/{done.json()['file']['id']}/content").content == (
        b"b" * 20 + b"a" * 10
    )
    # No parts after completion; cancel of a completed upload is refused.
    err = error(add_part(client, upload["id"], b"x"), 400)
    assert err["message"] == f"Upload {upload['id']} is completed and can no longer accept parts."
    assert err["code"] == "invalid_upload_state"
    err = error(client.post(f"/v1/uploads/{upload['id']}/cancel"), 400)
    assert err["message"] == f"Upload {upload['id']} is completed and can no longer be cancelled."


def test_cancel(client: TestClient, settings: Settings) -> None:
    upload = create(client, 20)
    a = part_id(client, upload["id"], b"a" * 10)
    assert len(blob_files(settings.data_dir)) == 1
    cancelled = client.post(
        f"/v1/uploads/{upload['id']}/cancel", headers={"Content-Type": "application/json"}
    )
    assert cancelled.status_code == 200
    assert cancelled.json() == {**upload, "status": "cancelled"}
    assert blob_files(settings.data_dir) == []
    again = client.post(f"/v1/uploads/{upload['id']}/cancel")
    assert again.json() == cancelled.json()
    err = error(add_part(client, upload["id"], b"b" * 10), 400)
    assert err["message"] == f"Upload {upload['id']} is cancelled and can no longer accept parts."
    err = error(client.post(f"/v1/uploads/{upload['id']}/complete", json={"part_ids": [a]}), 400)
    assert err["message"] == f"Upload {upload['id']} is cancelled and can no longer be completed."


def test_expiry_and_sweep(settings: Settings, clock: FakeClock) -> None:
    settings = settings.replace(upload_expiry_seconds=60, blob_lease_seconds=10)
    with make_client(settings, clock) as client:
        upload = create(client, 20)
        assert upload["expires_at"] == upload["created_at"] + 60
        a = part_id(client, upload["id"], b"a" * 10)
        # Past the part's lease: a pending Upload's parts are rows, the ledger has nothing to
        # sweep.
        clock.advance(settings.blob_lease_seconds + 5)
        sweeper = components(client).sweeper
        report = client.portal.call(sweeper.sweep)  # type: ignore[union-attr]
        assert report.lapsed == 0 and len(blob_files(settings.data_dir)) == 1
        clock.advance(upload["expires_at"] - 1 - clock.now())
        assert part_id(client, upload["id"], b"b" * 5)  # the last second before expiry
        clock.advance(1)
        err = error(add_part(client, upload["id"], b"b" * 10), 400)
        assert err["message"] == f"Upload {upload['id']} is expired and can no longer accept parts."
        err = error(
            client.post(f"/v1/uploads/{upload['id']}/complete", json={"part_ids": [a]}), 400
        )
        assert "is expired" in err["message"]
        err = error(client.post(f"/v1/uploads/{upload['id']}/cancel"), 400)
        assert "is expired" in err["message"]
        report = client.portal.call(sweeper.sweep)  # type: ignore[union-attr]
        assert report.uploads_expired == 1 and report.upload_parts == 2
        assert blob_files(settings.data_dir) == []
        stored = client.portal.call(  # type: ignore[union-attr]
            components(client).metadata.get_upload, "proj_default", upload["id"]
        )
        assert stored is not None and stored.status == "expired"
        # Once the retention has passed, the finished Upload's row goes too.
        later = components(client).sweeper
        later.settings = later.settings.replace(tombstone_retention_seconds=-3600)
        report = client.portal.call(later.sweep)  # type: ignore[union-attr]
        assert report.uploads_purged == 1
        assert error(client.post(f"/v1/uploads/{upload['id']}/cancel"), 404)["param"] == "upload_id"


def test_crash_between_publish_and_mark_is_settled(client: TestClient, settings: Settings) -> None:
    """Replay a completion that died after publishing its File (steps of complete_upload)."""
    upload = create(client, 10)
    a = part_id(client, upload["id"], b"a" * 10)
    service = components(client).uploads
    portal = client.portal
    assert portal is not None
    parts = portal.call(service.metadata.list_upload_parts, upload["id"])
    assert portal.call(service.metadata.start_upload_completion, upload["id"], "file-crashed1")
    info = portal.call(service.blobs.compose, "deadbeef" * 4, [parts[0].blob_key])

    async def publish() -> None:
        await service.files.publish_file(
            "proj_default",
            "user_data",
            "data.bin",
            info.key,
            info.size,
            "x",
            None,
            file_id="file-crashed1",
        )

    portal.call(publish)
    # The retried complete finds the published File: no second file, the parts go away.
    done = client.post(f"/v1/uploads/{upload['id']}/complete", json={"part_ids": [a]})
    assert done.status_code == 200, done.text
    assert done.json()["file"]["id"] == "file-crashed1"
    assert [f["id"] for f in client.get("/v1/files").json()["data"]] == ["file-crashed1"]
    assert len(blob_files(settings.data_dir)) == 1

    # The same state settled by the sweeper instead of a retry.
    second = create(client, 3)
    b = part_id(client, second["id"], b"bbb")
    parts = portal.call(service.metadata.list_upload_parts, second["id"])
    assert portal.call(service.metadata.start_upload_completion, second["id"], "file-crashed2")
    info = portal.call(service.blobs.compose, "feedface" * 4, [parts[0].blob_key])

    async def publish_second() -> None:
        await service.files.publish_file(
            "proj_default",
            "user_data",
            "data.bin",
            info.key,
            info.size,
            "x",
            None,
            file_id="file-crashed2",
        )

    portal.call(publish_second)
    report = portal.call(components(client).sweeper.sweep)
    assert report.uploads_settled == 1 and report.upload_parts == 1
    done = client.post(f"/v1/uploads/{second['id']}/complete", json={"part_ids": [b]})
    assert done.json()["file"]["id"] == "file-crashed2"
    assert len(blob_files(settings.data_dir)) == 2


CORPUS = Path(__file__).parent.parent / "validation" / "corpus" / "fine-tune"


def wait_processed(client: TestClient, file_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        file: dict[str, Any] = client.get(f"/v1/files/{file_id}").json()
        if file["status"] != "uploaded":
            return file
        time.sleep(0.05)
    raise AssertionError(f"{file_id} still uploaded")


def upload_in_parts(client: TestClient, content: bytes, parts: int = 3) -> Any:
    upload = create(client, len(content), purpose="fine-tune", filename="train.jsonl")
    step = len(content) // parts + 1
    ids = [
        part_id(client, upload["id"], content[i : i + step]) for i in range(0, len(content), step)
    ]
    return client.post(f"/v1/uploads/{upload['id']}/complete", json={"part_ids": ids}), upload


@pytest.mark.parametrize(
    ("sample", "status"), [("chat_valid.jsonl", "processed"), ("chat_errors.jsonl", "error")]
)
def test_completed_file_is_processed_like_post_files(
    client: TestClient, sample: str, status: str
) -> None:
    """Content checks read the composed blob (parts joined) exactly as a POST /files upload."""
    content = (CORPUS / sample).read_bytes()
    done, _ = upload_in_parts(client, content)
    assert done.status_code == 200, done.text
    file = wait_processed(client, done.json()["file"]["id"])
    assert file["status"] == status
    posted = client.post(
        "/v1/files", files={"file": ("train.jsonl", content)}, data={"purpose": "fine-tune"}
    ).json()
    assert wait_processed(client, posted["id"])["status_details"] == file["status_details"]


def test_strict_mode_refuses_invalid_content_at_complete(settings: Settings) -> None:
    with make_client(settings.replace(reject_invalid=True)) as client:
        content = (CORPUS / "chat_errors.jsonl").read_bytes()
        done, upload = upload_in_parts(client, content)
        err = error(done, 400)
        assert err["param"] == "file"
        # Nothing was published; the Upload is still pending and can be cancelled.
        assert client.get("/v1/files").json()["data"] == []
        cancelled = client.post(f"/v1/uploads/{upload['id']}/cancel")
        assert cancelled.json()["status"] == "cancelled"
        assert blob_files(settings.data_dir) == []


def test_quota_is_held_from_create_to_complete(settings: Settings) -> None:
    with make_client(settings.replace(storage_quota_bytes=1000)) as client:
        metadata = components(client).metadata
        portal = client.portal
        assert portal is not None

        def counters() -> tuple[int, int]:
            project = portal.call(metadata.get_project, "proj_default")
            assert project is not None
            return project.used_bytes, project.reserved_bytes

        err = error(
            client.post(
                "/v1/uploads",
                json={
                    "filename": "a.bin",
                    "purpose": "user_data",
                    "bytes": 1001,
                    "mime_type": "application/octet-stream",
                },
            ),
            400,
        )
        assert err["code"] == "storage_quota_exceeded" and err["param"] == "bytes"
        first = create(client, 600)
        assert counters() == (0, 600)
        # The declared bytes are held: a second Upload of 600 does not fit...
        err = error(
            client.post(
                "/v1/uploads",
                json={
                    "filename": "a.bin",
                    "purpose": "user_data",
                    "bytes": 600,
                    "mime_type": "application/octet-stream",
                },
            ),
            400,
        )
        assert err["code"] == "storage_quota_exceeded"
        # ...until the first is cancelled.
        client.post(f"/v1/uploads/{first['id']}/cancel")
        assert counters() == (0, 0)
        second = create(client, 600)
        done = client.post(
            f"/v1/uploads/{second['id']}/complete",
            json={"part_ids": [part_id(client, second["id"], b"x" * 600)]},
        )
        assert done.status_code == 200, done.text
        # Completion turns the hold into used bytes in the same transaction.
        assert counters() == (600, 0)
