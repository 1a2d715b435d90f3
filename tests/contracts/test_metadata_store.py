"""The composed store: one Database under every aggregate, opened and migrated once."""

from __future__ import annotations

import inspect

import pytest

from filedock.metadata.base import MetadataStore
from filedock.metadata.files import FileRows
from filedock.metadata.keys import KeyRows
from filedock.metadata.processing import ProcessingRows
from filedock.metadata.projects import ProjectRows
from filedock.metadata.rows import Rows
from filedock.metadata.tables import (
    API_KEYS,
    FILE_REPORTS,
    FILES,
    PROJECTS,
    RESERVATIONS,
    UPLOAD_PARTS,
    UPLOADS,
)
from filedock.metadata.uploads import UploadRows
from filedock.models import ApiKeyRecord
from tests.contracts import metadata_common as common
from tests.contracts.metadata_common import NOW, PROJECT, Backend, record

# The same fixtures (and so the same SQLite/PostgreSQL parametrisation) in every suite.
anyio_backend = common.anyio_backend
backend = common.backend
store = common.store

pytestmark = pytest.mark.anyio


async def test_ping(store: MetadataStore) -> None:
    await store.ping()


async def test_reopening_applies_no_migration_twice(backend: Backend) -> None:
    first = await backend.open()
    rec = await first.insert_file(record())
    await first.close()
    again = await backend.open()
    try:
        assert await again.get_file(PROJECT, rec.id, NOW) == rec
    finally:
        await again.close()


AGGREGATES = {
    "files": FileRows,
    "keys": KeyRows,
    "projects": ProjectRows,
    "uploads": UploadRows,
    "processing": ProcessingRows,
}


def public_methods(cls: type[Rows]) -> set[str]:
    return {
        name
        for name, member in vars(cls).items()
        if inspect.iscoroutinefunction(member) and not name.startswith("_")
    }


def test_every_aggregate_method_is_the_stores_and_none_is_shadowed() -> None:
    # The store answers each aggregate's methods itself; a name in two aggregates would make
    # one of them unreachable through it.
    seen: dict[str, str] = {}
    for name, cls in AGGREGATES.items():
        for method in public_methods(cls):
            assert method not in seen, f"{method} in both {seen[method]} and {name}"
            seen[method] = name
            assert getattr(MetadataStore, method) is getattr(cls, method)
    assert len(seen) >= 43


async def test_aggregates_share_the_stores_database(store: MetadataStore) -> None:
    for name, cls in AGGREGATES.items():
        aggregate = getattr(store, name)
        assert isinstance(aggregate, cls) and aggregate.db is store.db
    # A row written through one aggregate is read through the store and another aggregate.
    rec = await store.files.insert_file(record())
    assert await store.get_file(PROJECT, rec.id, NOW) == rec
    key = ApiKeyRecord("key_s", PROJECT, "s", "sk-fd-ssss", "hash-s", NOW)
    await store.keys.insert_api_key(key)
    assert await store.find_api_key("hash-s") == key
    assert await store.processing.get_file_report(rec.id) is None
    await store.save_file_report(rec.id, "{}", NOW)
    assert await store.processing.get_file_report(rec.id) == "{}"


async def test_every_declared_table_matches_the_migrated_schema(store: MetadataStore) -> None:
    # Each record's fields are columns of its table once migrated (a field without a migration,
    # or a misspelt one, fails here on both engines rather than at the first query).
    for table in (API_KEYS, FILE_REPORTS, FILES, PROJECTS, RESERVATIONS, UPLOAD_PARTS, UPLOADS):
        assert await store.db.fetch_all(f"{table.select_sql} WHERE 1 = 0") == []
