"""The sweeper on PostgreSQL + S3: orphans go only when old enough, referenced bytes stay."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from filedock.clock import FakeClock
from filedock.components import Components
from filedock.errors import BlobNotFound
from filedock.models import FileRecord
from filedock.settings import Settings
from tests.services import PostgresServer, SwiftServer

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.s3]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_orphans_respect_the_grace_and_live_rows(
    postgres_server: PostgresServer, swift_server: SwiftServer, tmp_path: Path
) -> None:
    env = {
        "FILEDOCK_DATABASE_URL": postgres_server.database(),
        **swift_server.env(swift_server.bucket()),
    }
    clock = FakeClock(time.time())  # object times are real: the clock starts at now
    components = Components.build(Settings.from_env(env, data_dir=tmp_path), clock=clock)
    await components.open()
    try:
        referenced, orphan = uuid.uuid4().hex, uuid.uuid4().hex
        info = await components.blobs.put(referenced, one(b"kept"))
        await components.blobs.put(orphan, one(b"stray"))
        await components.metadata.insert_file(
            FileRecord(
                id="file-" + uuid.uuid4().hex[:22],
                project_id="proj_default",
                purpose="user_data",
                filename="a.txt",
                bytes=info.size,
                created_at=int(time.time()),
                expires_at=None,
                status="processed",
                status_details=None,
                sha256=info.sha256,
                blob_key=referenced,
            )
        )
        assert await components.sweeper.remove_orphans(grace=600) == 0  # young: maybe in flight
        clock.advance(2)  # object times have one-second resolution
        assert await components.sweeper.remove_orphans(grace=0) == 1
        assert await components.blobs.size(referenced) == 4
        with pytest.raises(BlobNotFound):
            await components.blobs.size(orphan)
    finally:
        await components.close()
