"""Several real `filedock serve` processes on one PostgreSQL database and one S3 bucket (Swift)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.helpers import TEST_KEY, ServerProcess, make_server
from tests.services import PostgresServer, SwiftServer, start_postgres

pytestmark = [pytest.mark.live, pytest.mark.postgres, pytest.mark.s3]

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
MiB = 1024 * 1024


def shared_env(postgres: PostgresServer, swift: SwiftServer, **extra: str) -> dict[str, str]:
    """Settings for servers sharing a fresh database and a fresh bucket."""
    return {
        "FILEDOCK_DATABASE_URL": postgres.database(),
        **swift.env(swift.bucket(), prefix="files"),
        **extra,
    }


def start(
    data_dir: Path, env: dict[str, str], extra_args: list[str] | None = None
) -> ServerProcess:
    return make_server(data_dir, env=env, extra_args=extra_args).start(timeout=60)


def bucket_state(swift: SwiftServer, env: dict[str, str]) -> tuple[list[str], list[str]]:
    """(object keys, unfinished multipart upload keys) under the servers' prefix."""
    bucket = env["FILEDOCK_STORAGE_URL"].removeprefix("s3://").split("/", 1)[0]
    client = swift.client()
    objects = client.list_objects_v2(Bucket=bucket, Prefix="files/").get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=bucket, Prefix="files/").get("Uploads", [])
    return [o["Key"] for o in objects], [u["Key"] for u in uploads]


@pytest.fixture(scope="module")
def pg_s3_server(
    postgres_server: PostgresServer,
    swift_server: SwiftServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    server = start(
        tmp_path_factory.mktemp("pg-s3") / "data", shared_env(postgres_server, swift_server)
    )
    try:
        yield server
    finally:
        server.stop()


def test_official_sdk_on_postgres_and_s3(pg_s3_server: ServerProcess) -> None:
    body = b'{"prompt": "a", "completion": "b"}\n' * 1000
    # closed at the end, so no idle keep-alive connection delays the server's shutdown
    with openai.OpenAI(base_url=pg_s3_server.base_url, api_key=TEST_KEY, max_retries=0) as sdk:
        created = sdk.files.create(file=("train.jsonl", io.BytesIO(body)), purpose="fine-tune")
        assert created.bytes == len(body) and created.filename == "train.jsonl"
        assert sdk.files.retrieve(created.id) == created
        assert created.id in [f.id for f in sdk.files.list()]
        assert sdk.files.content(created.id).read() == body
        deleted = sdk.files.delete(created.id)
        assert deleted.deleted and deleted.id == created.id
        with pytest.raises(openai.NotFoundError):
            sdk.files.retrieve(created.id)


CORPUS = Path(__file__).parent.parent / "validation" / "corpus" / "fine-tune"


def test_processing_and_quotas_on_postgres_and_s3(pg_s3_server: ServerProcess) -> None:
    # Uploads land as `uploaded`; the processing worker claims them on PostgreSQL (SKIP LOCKED
    # claims, leases, finish in one transaction) and reads the bytes back from S3.
    url = pg_s3_server.base_url
    with openai.OpenAI(base_url=url, api_key=TEST_KEY, max_retries=0) as sdk:
        good = sdk.files.create(file=CORPUS / "chat_valid.jsonl", purpose="fine-tune")
        bad = sdk.files.create(file=CORPUS / "chat_errors.jsonl", purpose="fine-tune")
        good = sdk.files.wait_for_processing(good.id, poll_interval=0.1, max_wait_seconds=60)
        bad = sdk.files.wait_for_processing(bad.id, poll_interval=0.1, max_wait_seconds=60)
        assert (good.status, good.status_details) == ("processed", None)
        assert bad.status == "error" and bad.status_details is not None
        assert bad.status_details.startswith("Invalid file format. ")
    with httpx.Client(base_url=pg_s3_server.url, headers=AUTH, timeout=30) as admin:
        report = admin.get(f"/v1/files/{bad.id}/report")
        assert report.status_code == 200, report.text
        # A project with a small quota: reservations and settling on PostgreSQL.
        created = admin.post(
            "/v1/organization/projects", json={"name": "small", "storage_quota_bytes": 5000}
        )
        assert created.status_code == 200, created.text
        project_id = created.json()["id"]
        key = admin.post(f"/v1/organization/projects/{project_id}/api_keys", json={"name": "m"})
        assert key.status_code == 200, key.text
        with openai.OpenAI(base_url=url, api_key=key.json()["value"], max_retries=0) as tenant:
            kept = tenant.files.create(file=("a.bin", io.BytesIO(b"a" * 3000)), purpose="user_data")
            with pytest.raises(openai.BadRequestError) as refused:
                tenant.files.create(file=("b.bin", io.BytesIO(b"b" * 3000)), purpose="user_data")
            assert refused.value.code == "storage_quota_exceeded"
            assert [f.id for f in tenant.files.list()] == [kept.id]
        # The plpgsql trigger counted the stored file; the refused upload's hold is gone.
        usage = admin.get(f"/v1/organization/projects/{project_id}/usage").json()["quota"]
        assert (usage["used_bytes"], usage["reserved_bytes"]) == (3000, 0)
        with openai.OpenAI(base_url=url, api_key=key.json()["value"], max_retries=0) as tenant:
            tenant.files.delete(kept.id)
        usage = admin.get(f"/v1/organization/projects/{project_id}/usage").json()["quota"]
        assert (usage["used_bytes"], usage["reserved_bytes"]) == (0, 0)


def test_uploads_api_on_postgres_and_s3(pg_s3_server: ServerProcess) -> None:
    # The Uploads API's rows (uploads, parts, completion) on PostgreSQL, its parts on S3.
    parts = [b"a" * 1000, b"b" * 500]
    with openai.OpenAI(base_url=pg_s3_server.base_url, api_key=TEST_KEY, max_retries=0) as sdk:
        upload = sdk.uploads.create(
            bytes=1500, filename="d.bin", mime_type="application/octet-stream", purpose="user_data"
        )
        ids = [sdk.uploads.parts.create(upload.id, data=p).id for p in parts]
        done = sdk.uploads.complete(upload.id, part_ids=ids)
        assert done.status == "completed" and done.file is not None
        assert sdk.files.content(done.file.id).read() == b"".join(parts)
        other = sdk.uploads.create(
            bytes=10, filename="e.bin", mime_type="application/octet-stream", purpose="user_data"
        )
        assert sdk.uploads.cancel(other.id).status == "cancelled"
        with pytest.raises(openai.BadRequestError):
            sdk.uploads.parts.create(other.id, data=b"x")


def test_health_and_readiness_need_no_auth(pg_s3_server: ServerProcess) -> None:
    assert httpx.get(pg_s3_server.url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(pg_s3_server.url + "/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready"}


def test_two_servers_share_database_and_bucket(
    postgres_server: PostgresServer, swift_server: SwiftServer, tmp_path: Path
) -> None:
    env = shared_env(postgres_server, swift_server)
    a = start(tmp_path / "a", env)
    try:
        b = start(tmp_path / "b", env)
        try:
            data = bytes(range(256)) * (40 * 4096)  # 40 MiB: a multipart upload to S3
            created = httpx.post(
                a.base_url + "/files",
                headers=AUTH,
                files={"file": ("big.bin", data)},
                data={"purpose": "user_data"},
                timeout=120,
            )
            assert created.status_code == 200, created.text
            file_id = created.json()["id"]
            assert httpx.get(f"{b.base_url}/files/{file_id}", headers=AUTH).json() == created.json()
            listed = httpx.get(b.base_url + "/files", headers=AUTH).json()
            assert [f["id"] for f in listed["data"]] == [file_id]
            content = httpx.get(f"{b.base_url}/files/{file_id}/content", headers=AUTH, timeout=60)
            assert content.content == data
            ranged = httpx.get(
                f"{b.base_url}/files/{file_id}/content",
                headers={**AUTH, "Range": "bytes=9000000-9000099"},
            )
            assert ranged.status_code == 206 and ranged.content == data[9000000:9000100]
            deleted = httpx.delete(f"{b.base_url}/files/{file_id}", headers=AUTH)
            assert deleted.json()["deleted"] is True
            assert httpx.get(f"{a.base_url}/files/{file_id}", headers=AUTH).status_code == 404
            assert bucket_state(swift_server, env) == ([], [])
        finally:
            b.stop()
    finally:
        a.stop()


def test_workers_share_one_database(
    postgres_server: PostgresServer, swift_server: SwiftServer, tmp_path: Path
) -> None:
    server = start(tmp_path / "w", shared_env(postgres_server, swift_server), ["--workers", "2"])
    try:
        ids = set()
        with httpx.Client(base_url=server.base_url, headers=AUTH) as http:
            for i in range(6):
                created = http.post(
                    "/files", files={"file": (f"{i}.txt", b"x" * i)}, data={"purpose": "user_data"}
                )
                assert created.status_code == 200, created.text
                ids.add(created.json()["id"])
        for _ in range(6):  # new connections land on either worker
            listed = httpx.get(server.base_url + "/files", headers=AUTH).json()
            assert {f["id"] for f in listed["data"]} == ids
    finally:
        server.stop()


def test_server_killed_mid_upload_leaves_nothing_after_the_sweep(
    postgres_server: PostgresServer, swift_server: SwiftServer, tmp_path: Path
) -> None:
    env = shared_env(
        postgres_server,
        swift_server,
        FILEDOCK_BLOB_LEASE_SECONDS="2",  # A dies: its upload's lease lapses within 2 s
        FILEDOCK_SWEEP_INTERVAL_SECONDS="0.5",
    )
    a = start(tmp_path / "a", env)
    b = start(tmp_path / "b", env)
    try:
        sent = threading.Event()

        def body() -> Iterator[bytes]:
            boundary = b"--xyz\r\n"
            yield boundary + b'Content-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n'
            yield boundary + (
                b'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n'
                b"Content-Type: application/octet-stream\r\n\r\n"
            )
            for _ in range(24):  # 24 MiB: parts already in a multipart upload on S3
                yield b"\x01" * MiB
            sent.set()
            time.sleep(30)  # never finishes: A is killed first
            yield b"\r\n--xyz--\r\n"

        def upload() -> None:
            with contextlib.suppress(httpx.HTTPError):  # the server dies under us: expected
                httpx.post(
                    a.base_url + "/files",
                    headers={**AUTH, "Content-Type": "multipart/form-data; boundary=xyz"},
                    content=body(),
                    timeout=60,
                )

        thread = threading.Thread(target=upload, daemon=True)
        thread.start()
        assert sent.wait(60)
        deadline = time.monotonic() + 30
        while bucket_state(swift_server, env)[1] == [] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert bucket_state(swift_server, env)[1], "the upload never reached S3"
        a.kill()  # SIGKILL: no clean-up on A's side
        listed = httpx.get(b.base_url + "/files", headers=AUTH).json()
        assert listed["data"] == []
        deadline = time.monotonic() + 30
        while bucket_state(swift_server, env) != ([], []) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert bucket_state(swift_server, env) == ([], [])
        assert httpx.get(b.base_url + "/files", headers=AUTH).json()["data"] == []
    finally:
        a.kill()
        b.stop()


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("FILEDOCK_DATABASE_URL", "postgresql://postgres@127.0.0.1:9/nope"),
        ("FILEDOCK_DATABASE_URL", "mysql://somewhere/db"),
        ("FILEDOCK_STORAGE_URL", "s3://no-such-bucket-xyz/p"),
        ("FILEDOCK_STORAGE_URL", "ftp://host/p"),
    ],
)
def test_startup_error_names_the_setting(
    postgres_server: PostgresServer,
    swift_server: SwiftServer,
    tmp_path: Path,
    setting: str,
    value: str,
) -> None:
    env = shared_env(postgres_server, swift_server)
    env[setting] = value
    server = make_server(tmp_path / "data", env=env)

    def run(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "filedock", *command],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    serve = ("serve", "--port", str(server.port))
    # `migrate` needs only the database: a broken blob store does not stop it.
    commands = (("migrate",), serve) if setting == "FILEDOCK_DATABASE_URL" else (serve,)
    for command in commands:
        done = run(*command)
        assert done.returncode != 0
        assert setting in done.stderr, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
    if setting == "FILEDOCK_STORAGE_URL":
        assert run("migrate").returncode == 0


def test_readyz_reports_a_lost_database(swift_server: SwiftServer, tmp_path: Path) -> None:
    # Its own PostgreSQL, so stopping it affects no other test.
    own = start_postgres()
    try:
        env = {"FILEDOCK_DATABASE_URL": own.database(), **swift_server.env(swift_server.bucket())}
        server = start(tmp_path / "r", env)
        try:
            assert httpx.get(server.url + "/readyz").json() == {"status": "ready"}
            own.stop()
            ready = httpx.get(server.url + "/readyz", timeout=60)
            assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
            assert httpx.get(server.url + "/healthz").status_code == 200
        finally:
            server.stop()
    finally:
        own.stop()


def test_migrate_command_on_postgres_hides_the_password(
    postgres_server: PostgresServer, swift_server: SwiftServer, tmp_path: Path
) -> None:
    import psycopg

    env = shared_env(postgres_server, swift_server)
    url = env["FILEDOCK_DATABASE_URL"]
    env["FILEDOCK_DATABASE_URL"] = url.replace("postgres@", "postgres:hunter2@")  # trust auth
    server = make_server(tmp_path / "m", env=env)
    for _ in range(2):  # the second run finds nothing to do
        done = subprocess.run(
            [sys.executable, "-m", "filedock", "migrate"],
            env=server.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert "database is up to date: postgresql://postgres:***@" in done.stdout
        assert "hunter2" not in done.stdout + done.stderr
    with psycopg.connect(url) as conn:
        tables = {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    assert {"files", "api_keys", "projects", "alembic_version"} <= tables
    assert len(version) == 1
