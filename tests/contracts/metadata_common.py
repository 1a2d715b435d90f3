"""The metadata contract's fixtures and row builders, shared by every aggregate's suite.

Each suite runs unchanged on every backend: SQLite and PostgreSQL (real).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from msgspec.structs import replace

from filedock.metadata.base import MetadataStore
from filedock.metadata.factory import metadata_store_for_url
from filedock.models import FileRecord, ProjectRecord, Reservation, UploadPartRecord, UploadRecord

PROJECT = "proj_default"


NOW = 1_700_000_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Backend:
    name: str
    url: str

    async def open(self) -> MetadataStore:
        """Another store on the same database (as a second server would have)."""
        store = metadata_store_for_url(self.url)
        await store.open()
        return store


@pytest.fixture(
    params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.postgres)]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    return Backend("postgres", request.getfixturevalue("postgres_server").database())


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[MetadataStore]:
    meta = await backend.open()
    try:
        yield meta
    finally:
        await meta.close()


def record(
    *,
    created_at: int = NOW,
    purpose: str = "assistants",
    project_id: str = PROJECT,
    expires_at: int | None = None,
    blob_key: str | None = None,
) -> FileRecord:
    return FileRecord(
        id="file-" + uuid.uuid4().hex[:22],
        project_id=project_id,
        purpose=purpose,
        filename="notes.txt",
        bytes=123,
        created_at=created_at,
        expires_at=expires_at,
        status="processed",
        status_details=None,
        sha256="ab" * 32,
        blob_key=blob_key or uuid.uuid4().hex,
    )


def uploaded(project_id: str = PROJECT) -> FileRecord:
    return replace(record(project_id=project_id), status="uploaded")


QUOTA = 1000


async def new_project(store: MetadataStore, quota: int | None = QUOTA) -> str:
    project = "proj_" + uuid.uuid4().hex[:12]
    await store.insert_project(
        ProjectRecord(project, "p " + project, NOW, storage_quota_bytes=quota)
    )
    return project


async def counters(store: MetadataStore, project: str) -> tuple[int, int]:
    got = await store.get_project(project)
    assert got is not None
    return got.used_bytes, got.reserved_bytes


def hold(project: str, nbytes: int, expires_at: int = NOW + 60) -> Reservation:
    return Reservation("res_" + uuid.uuid4().hex[:12], project, nbytes, expires_at)


def sized(project: str, nbytes: int, purpose: str = "assistants") -> FileRecord:
    return replace(record(project_id=project, purpose=purpose), bytes=nbytes)


def an_upload(nbytes: int = 100, expires_at: int = NOW + 3600) -> UploadRecord:
    return UploadRecord(
        "upload_" + uuid.uuid4().hex[:12],
        PROJECT,
        "d.bin",
        "user_data",
        nbytes,
        "application/octet-stream",
        NOW,
        expires_at,
        "pending",
        None,
    )


def a_part(upload: UploadRecord, nbytes: int, at: int = NOW) -> UploadPartRecord:
    return UploadPartRecord(
        "part_" + uuid.uuid4().hex[:12], upload.id, nbytes, "ab" * 32, uuid.uuid4().hex, at
    )


def upload(
    nbytes: int = 100, *, expires_at: int = NOW + 3600, project: str = PROJECT
) -> UploadRecord:
    return UploadRecord(
        id="upload_" + uuid.uuid4().hex[:24],
        project_id=project,
        filename="big.jsonl",
        purpose="batch",
        bytes=nbytes,
        mime_type="text/jsonl",
        created_at=NOW,
        expires_at=expires_at,
        status="pending",
        file_expires_after=86400,
        reservation_id="res_" + uuid.uuid4().hex[:8],
    )


def part(upload_id: str, nbytes: int, created_at: int = NOW) -> UploadPartRecord:
    return UploadPartRecord(
        id="part_" + uuid.uuid4().hex[:24],
        upload_id=upload_id,
        bytes=nbytes,
        sha256="cd" * 32,
        blob_key="parts/" + uuid.uuid4().hex,
        created_at=created_at,
    )
