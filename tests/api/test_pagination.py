"""Keyset pagination through the HTTP API, property-tested with Hypothesis.

Thousands of files share one `created_at` second (plus neighbours on either side, inserted out of
time order); every walk with random page sizes, in both orders, with and without a purpose filter,
must see every live file exactly once, in order, with `has_more`/`first_id`/`last_id` right.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from filedock.components import Components
from filedock.ids import new_blob_key, new_file_id
from filedock.models import DEFAULT_PROJECT_ID, FileRecord
from filedock.settings import Settings
from filedock.web import create_app
from tests.conftest import AUTH
from tests.helpers import TEST_KEY

SECOND = 1_700_000_000
PURPOSES = ("user_data", "batch", "evals")
Expected = list[tuple[int, int, str, str]]  # (created_at, seq, id, purpose)


def _insert(client: TestClient, created_at: int, purpose: str) -> tuple[int, int, str, str]:
    components: Components = client.app.state.components  # type: ignore[attr-defined]
    record = FileRecord(
        id=new_file_id(),
        project_id=DEFAULT_PROJECT_ID,
        purpose=purpose,
        filename="f.jsonl",
        bytes=1,
        created_at=created_at,
        expires_at=None,
        status="processed",
        status_details=None,
        sha256="0" * 64,
        blob_key=new_blob_key(),
    )
    stored = client.portal.call(components.metadata.insert_file, record)  # type: ignore[union-attr]
    return (stored.created_at, stored.seq, stored.id, stored.purpose)


def _populate(client: TestClient, count: int, rng: random.Random) -> Expected:
    rows = []
    for i in range(count):
        # Most files share one second; a few land just before or after, inserted out of order.
        offset = 0 if i % 10 else rng.choice((-1, 1))
        purpose = "evals" if i % 40 == 0 else rng.choice(PURPOSES[:2])
        rows.append(_insert(client, SECOND + offset, purpose))
    return sorted(rows)


def _client(data_dir: Path) -> TestClient:
    app = create_app(Settings(data_dir=data_dir, api_key=TEST_KEY), background=False)
    return TestClient(app, headers=AUTH)


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Expected]]:
    with _client(tmp_path_factory.mktemp("pages") / "data") as client:
        yield client, _populate(client, 3000, random.Random(2))


def _walk(
    client: TestClient, order: str, limits: list[int], purpose: str | None
) -> tuple[list[str], int]:
    seen: list[str] = []
    after: str | None = None
    pages = 0
    while True:
        limit = limits[pages % len(limits)]
        params: dict[str, str | int] = {"limit": limit, "order": order}
        if after:
            params["after"] = after
        if purpose:
            params["purpose"] = purpose
        response = client.get("/v1/files", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        ids = [f["id"] for f in page["data"]]
        assert len(ids) <= limit
        assert page["first_id"] == (ids[0] if ids else None)
        assert page["last_id"] == (ids[-1] if ids else None)
        if purpose:
            assert {f["purpose"] for f in page["data"]} <= {purpose}
        seen.extend(ids)
        pages += 1
        if not page["has_more"]:
            return seen, pages
        assert len(ids) == limit  # has_more only on a full page
        after = page["last_id"]


def _expected(rows: Expected, order: str, purpose: str | None) -> list[str]:
    ids = [r[2] for r in rows if purpose is None or r[3] == purpose]
    return ids if order == "asc" else ids[::-1]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    order=st.sampled_from(["asc", "desc"]),
    purpose=st.sampled_from([None, "user_data", "batch"]),
    limits=st.lists(st.integers(min_value=97, max_value=2500), min_size=1, max_size=5),
)
def test_walk_sees_every_file_once_in_order(
    populated: tuple[TestClient, Expected], order: str, purpose: str | None, limits: list[int]
) -> None:
    client, rows = populated
    seen, _ = _walk(client, order, limits, purpose)
    assert seen == _expected(rows, order, purpose)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    order=st.sampled_from(["asc", "desc"]),
    limits=st.lists(st.integers(min_value=1, max_value=80), min_size=1, max_size=5),
)
def test_small_pages_over_a_filtered_purpose(
    populated: tuple[TestClient, Expected], order: str, limits: list[int]
) -> None:
    client, rows = populated
    seen, pages = _walk(client, order, limits, "evals")
    expected = _expected(rows, order, "evals")
    assert seen == expected
    assert pages >= len(expected) // max(limits)


def test_default_limit_returns_everything(populated: tuple[TestClient, Expected]) -> None:
    client, rows = populated
    page = client.get("/v1/files").json()
    assert [f["id"] for f in page["data"]] == _expected(rows, "desc", None)
    assert page["has_more"] is False


def test_exact_fit_has_no_more(populated: tuple[TestClient, Expected]) -> None:
    client, rows = populated
    evals = _expected(rows, "asc", "evals")
    page = client.get(
        "/v1/files", params={"purpose": "evals", "order": "asc", "limit": len(evals)}
    ).json()
    assert page["has_more"] is False and len(page["data"]) == len(evals)
    page = client.get(
        "/v1/files", params={"purpose": "evals", "order": "asc", "limit": len(evals) - 1}
    ).json()
    assert page["has_more"] is True and page["last_id"] == evals[-2]


def test_after_the_last_file_is_an_empty_page(populated: tuple[TestClient, Expected]) -> None:
    client, rows = populated
    last = _expected(rows, "asc", None)[-1]
    page = client.get("/v1/files", params={"order": "asc", "after": last}).json()
    assert page == {
        "object": "list",
        "data": [],
        "has_more": False,
        "first_id": None,
        "last_id": None,
    }


def test_deleting_while_paginating(tmp_path: Path) -> None:
    rng = random.Random(7)
    with _client(tmp_path / "data") as client:
        rows = _populate(client, 400, rng)
        for order in ("asc", "desc"):
            live = _expected(rows, order, None)
            deleted: set[str] = set()
            seen: list[str] = []
            after: str | None = None
            while True:
                params: dict[str, str | int] = {"limit": rng.randint(1, 25), "order": order}
                if after:
                    params["after"] = after
                page = client.get("/v1/files", params=params).json()
                ids = [f["id"] for f in page["data"]]
                assert not set(ids) & deleted
                seen.extend(ids)
                if not page["has_more"]:
                    break
                after = page["last_id"]
                # Delete the cursor itself (a tombstone keeps it usable) and some files ahead.
                ahead = [i for i in live if i not in seen and i not in deleted]
                for file_id in [after, *rng.sample(ahead, min(3, len(ahead)))]:
                    assert client.delete(f"/v1/files/{file_id}").status_code == 200
                    deleted.add(file_id)
            assert seen == [i for i in live if i in seen]  # in order
            remaining = [i for i in live if i not in deleted]
            assert [i for i in seen if i not in deleted] == remaining
            # Undelete nothing: the next order walks what is left.
            rows = [r for r in rows if r[2] not in deleted]
