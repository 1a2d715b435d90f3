"""Limits that hold across servers: a key's rate-limit budget on two servers on one PostgreSQL,
and exactly one bootstrap key when servers start at once on an empty database."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio.to_thread
import pytest
from starlette.testclient import TestClient

from filedock.clock import FakeClock
from filedock.components import Components
from filedock.metadata import migrate
from filedock.metadata.factory import database_for_url
from filedock.metadata.ratelimits import RateLimitRows
from filedock.services.ratelimit import SharedRateLimiter
from filedock.settings import Settings
from filedock.web import create_app
from tests.helpers import make_server
from tests.projects.conftest import make_tenant
from tests.services import PostgresServer

pytestmark = pytest.mark.anyio


@pytest.mark.postgres
async def test_two_servers_share_one_budget_exactly(postgres_server: PostgresServer) -> None:
    url = postgres_server.database()
    await anyio.to_thread.run_sync(migrate.upgrade, url)
    clock = FakeClock()
    databases = [database_for_url(url), database_for_url(url)]
    for db in databases:
        await db.open()
    try:
        servers = [SharedRateLimiter(RateLimitRows(db), clock) for db in databases]

        async def attempts(count: int) -> int:
            decisions = await asyncio.gather(
                *(servers[i % 2].acquire("key_a", 60, None) for i in range(count))
            )
            return sum(d.allowed for d in decisions)

        assert await attempts(150) == 60  # one minute's budget, not two
        clock.advance(30)  # half a minute refills half the budget
        assert await attempts(100) == 30
        other = await servers[1].acquire("key_b", 60, 1)  # keys and kinds are separate
        assert other.allowed and other.uploads is not None and other.uploads.remaining == 0
        refused = await servers[0].acquire("key_b", 60, 1)
        assert refused.denied_by == "uploads"
        assert refused.requests is not None and refused.requests.remaining == 59  # not taken
    finally:
        for db in databases:
            await db.close()


@pytest.mark.postgres
def test_two_http_servers_hold_the_budget_within_ten_percent(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    url = postgres_server.database()
    limit = 120
    servers = [
        Settings(
            database_url=url,
            data_dir=tmp_path / name,
            api_key="sk-test-admin",
            sweep_interval_seconds=3600,
        )
        for name in ("a", "b")
    ]
    headers = {"Authorization": "Bearer sk-test-admin"}
    with (
        TestClient(create_app(servers[0]), headers=headers) as a,
        TestClient(create_app(servers[1]), headers=headers) as b,
    ):
        tenant = make_tenant(a, "shared", max_requests_per_1_minute=limit)
        started = time.monotonic()
        allowed = 0
        for i in range(3 * limit):
            response = (a, b)[i % 2].get("/v1/files", headers=tenant.headers)
            assert response.status_code in (200, 429), response.text
            allowed += response.status_code == 200
        elapsed = time.monotonic() - started
    budget = limit + elapsed * limit / 60  # the bucket refills while the test runs
    assert budget * 0.9 <= allowed <= budget * 1.1, (allowed, budget)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
async def test_servers_starting_at_once_create_one_bootstrap_key(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'meta.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_server").database()
    servers = [
        Components.build(Settings(database_url=url, data_dir=tmp_path / f"s{i}", api_key=""))
        for i in range(4)
    ]
    for c in servers:  # Alembic is not thread-safe: one process migrates once (see below)
        await c.open()
    try:
        secrets = await asyncio.gather(*(c.keys.ensure_bootstrap_key() for c in servers))
        created = [s for s in secrets if s]
        assert len(created) == 1
        keys = await servers[0].keys.list_keys()
        assert len(keys) == 1 and keys[0].is_admin
        principal = await servers[3].keys.authenticate(f"Bearer {created[0]}")
        assert principal.is_admin
        # A later start finds the key and creates none.
        assert await servers[1].keys.ensure_bootstrap_key() is None
    finally:
        for c in servers:
            await c.close()


@pytest.mark.live
@pytest.mark.postgres
def test_two_serve_processes_started_at_once_print_one_bootstrap_key(
    postgres_server: PostgresServer, tmp_path: Path
) -> None:
    env = {"FILEDOCK_DATABASE_URL": postgres_server.database()}
    servers = [make_server(tmp_path / name, api_key="", env=env) for name in ("a", "b")]
    try:
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda server: server.start(timeout=60), servers))
        logs = "".join(server.log() for server in servers)
        assert logs.count("Created the first API key") == 1, logs
    finally:
        for server in servers:
            server.stop()
