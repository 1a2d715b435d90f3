"""The Uploads API through the official SDK on a server backed by PostgreSQL and S3 (Swift)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.helpers import TEST_KEY, ServerProcess
from tests.live.test_scale_out import MiB, bucket_state, shared_env, start
from tests.services import PostgresServer, SwiftServer

pytestmark = [pytest.mark.live, pytest.mark.postgres, pytest.mark.s3]


@pytest.fixture(scope="module")
def pg_s3(
    postgres_server: PostgresServer,
    swift_server: SwiftServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    env = shared_env(postgres_server, swift_server)
    server = start(tmp_path_factory.mktemp("pg-s3-uploads") / "data", env)
    try:
        yield server, env
    finally:
        server.stop()


def sdk(server: ServerProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url, api_key=TEST_KEY, max_retries=0)


def chunked(client: openai.OpenAI, path: Path, part_size: int) -> str:
    upload = client.uploads.upload_file_chunked(
        file=path, mime_type="text/jsonl", purpose="fine-tune", part_size=part_size
    )
    assert upload.status == "completed" and upload.file is not None
    assert upload.bytes == path.stat().st_size and upload.filename == path.name
    return upload.file.id


def sha256_of(client: openai.OpenAI, file_id: str) -> str:
    digest = hashlib.sha256()
    with client.files.with_streaming_response.content(file_id) as response:
        for chunk in response.iter_bytes():
            digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.parametrize(
    ("size", "part_size"),
    [
        # Parts of >= 5 MiB (all but the last): completion composes them with UploadPartCopy.
        (2 * 5 * MiB + 12_345, 5 * MiB),
        # Small parts: completion streams them into one object.
        (700_001, 100_000),
    ],
    ids=["s3-part-copy", "streamed"],
)
def test_upload_file_chunked_is_byte_exact(
    pg_s3: tuple[ServerProcess, dict[str, str]],
    swift_server: SwiftServer,
    tmp_path: Path,
    size: int,
    part_size: int,
) -> None:
    server, env = pg_s3
    content = os.urandom(size)
    path = tmp_path / "train.jsonl"
    path.write_bytes(content)
    with sdk(server) as client:
        file_id = chunked(client, path, part_size)
        assert client.files.retrieve(file_id).bytes == size
        assert sha256_of(client, file_id) == hashlib.sha256(content).hexdigest()
    # No S3 multipart upload is left open by the completion.
    assert bucket_state(swift_server, env)[1] == []


def test_cancel(pg_s3: tuple[ServerProcess, dict[str, str]]) -> None:
    server, _ = pg_s3
    with sdk(server) as client:
        upload = client.uploads.create(
            bytes=10, filename="x.jsonl", mime_type="text/jsonl", purpose="fine-tune"
        )
        client.uploads.parts.create(upload.id, data=b"12345")
        with pytest.raises(openai.BadRequestError):
            client.uploads.parts.create(upload.id, data=b"123456")  # beyond the declared bytes
        cancelled = client.uploads.cancel(upload.id)
        assert cancelled.status == "cancelled" and cancelled.file is None
        with pytest.raises(openai.BadRequestError) as excinfo:
            client.uploads.parts.create(upload.id, data=b"12345")
        assert excinfo.value.code == "invalid_upload_state"
        with pytest.raises(openai.BadRequestError):
            client.uploads.complete(upload.id, part_ids=[])
