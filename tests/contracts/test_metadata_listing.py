"""The listing extensions (`status`, `search`, `sort`) on every metadata backend: filters are
exact, sorting is stable with ties, and keyset pagination over any sort loses or repeats nothing."""

from __future__ import annotations

import random

import msgspec.structs
import pytest

from filedock.metadata.base import MetadataStore, Order, SortKey
from tests.contracts import metadata_common as common

NOW, PROJECT, record = common.NOW, common.PROJECT, common.record
# The same backends (SQLite, real PostgreSQL) and store fixture as the other contract suites.
anyio_backend, backend, store = common.anyio_backend, common.backend, common.store

pytestmark = pytest.mark.anyio

NAMES = ["Report_2024.jsonl", "report-final.txt", "notes.txt", "100%.csv", "a_b.txt", "zeta.bin"]


async def _seed(store: MetadataStore) -> list[tuple[str, str, int, int, str]]:
    rng = random.Random(7)
    rows = []
    for i in range(30):
        rec = msgspec.structs.replace(
            record(created_at=NOW + rng.randrange(5)),
            filename=NAMES[i % len(NAMES)],
            bytes=rng.choice([10, 20, 30]),
            status=["processed", "error", "uploaded"][i % 3],
        )
        inserted = await store.insert_file(rec)
        rows.append((inserted.id, inserted.filename, inserted.bytes, inserted.seq, inserted.status))
    return rows


async def _all(
    store: MetadataStore, sort: SortKey, order: Order, limit: int, **kw: str
) -> list[str]:
    ids: list[str] = []
    after: str | None = None
    while True:
        page = await store.list_files(
            PROJECT, purpose=None, limit=limit, order=order, after=after, now=NOW, sort=sort, **kw
        )
        ids += [f.id for f in page.data]
        if not page.has_more:
            return ids
        after = page.data[-1].id


@pytest.mark.parametrize("sort", ["filename", "bytes", "created_at"])
@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_sorted_keyset_pagination(store: MetadataStore, sort: SortKey, order: Order) -> None:
    rows = await _seed(store)
    column = {"filename": 1, "bytes": 2}.get(sort)
    if column is None:
        page = await store.list_files(
            PROJECT, purpose=None, limit=100, order=order, after=None, now=NOW
        )
        expected = [f.id for f in page.data]
    else:
        ranked = sorted(rows, key=lambda r: (r[column], r[3]), reverse=order == "desc")
        expected = [r[0] for r in ranked]
    for limit in (1, 4, 7, 100):
        assert await _all(store, sort, order, limit) == expected


async def test_status_and_search_filters(store: MetadataStore) -> None:
    rows = await _seed(store)
    errors = await _all(store, "created_at", "asc", 5, status="error")
    assert sorted(errors) == sorted(r[0] for r in rows if r[4] == "error")
    # Case-insensitive substring of the filename.
    found = await _all(store, "filename", "asc", 3, search="REPORT")
    assert sorted(found) == sorted(r[0] for r in rows if "report" in r[1].lower())
    # LIKE wildcards are taken literally.
    assert sorted(await _all(store, "filename", "asc", 10, search="%")) == sorted(
        r[0] for r in rows if r[1] == "100%.csv"
    )
    assert sorted(await _all(store, "filename", "asc", 10, search="a_b")) == sorted(
        r[0] for r in rows if r[1] == "a_b.txt"
    )
    # An exact id.
    assert await _all(store, "created_at", "desc", 10, search=rows[4][0]) == [rows[4][0]]
    both = await _all(store, "bytes", "desc", 2, search="txt", status="processed")
    assert sorted(both) == sorted(r[0] for r in rows if "txt" in r[1] and r[4] == "processed")
