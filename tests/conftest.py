"""Fixtures: the real ASGI app in process, and a real server process for the official SDK."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from filedock.clock import FakeClock
from filedock.settings import Settings
from filedock.web import create_app
from tests import services
from tests.helpers import TEST_KEY, ServerProcess, make_server
from tests.services import (
    LlmEngine,
    PostgresServer,
    SwiftServer,
    start_llm_engine,
    start_postgres,
    start_swift,
)

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}


@pytest.fixture(scope="session")
def migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session, copied by each test that wants one."""
    from filedock.metadata import migrate

    path = tmp_path_factory.mktemp("template") / "filedock.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    return path


def pytest_configure(config: pytest.Config) -> None:
    # Lets tests/services.announce write its one line per install past output capture.
    services.PYTEST_CONFIG = config


@pytest.fixture
def settings(tmp_path: Path, migrated_database: Path) -> Settings:
    """A fresh data folder whose database is a copy of the migrated template (the store still
    checks the schema on open, which costs milliseconds on a database at head)."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copyfile(migrated_database, data / "filedock.sqlite3")
    return Settings(data_dir=data, api_key=TEST_KEY, sweep_interval_seconds=3600)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The real app in process (real SQLite file, real local blob folder), authenticated."""
    with TestClient(create_app(settings), headers=AUTH, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def clock() -> FakeClock:
    """A clock that stands still at the real time until the test moves it (blob files on disk
    carry real times, so it starts at now)."""
    return FakeClock(time.time())


@pytest.fixture
def clocked_client(settings: Settings, clock: FakeClock) -> Iterator[TestClient]:
    """Like `client`, but every service reads the time from `clock`."""
    app = create_app(settings, clock=clock)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real `filedock serve` on a free loopback port, shared by one test module."""
    server = make_server(tmp_path_factory.mktemp("live") / "data").start()
    try:
        yield server
    finally:
        server.stop()


# --- scale-out: real PostgreSQL and S3 (Swift) servers, one of each per session ------------------
@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster on a free loopback port (see tests/services.py)."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def swift_server() -> Iterator[SwiftServer]:
    """OpenStack Swift + s3api on free loopback ports (see tests/services.py)."""
    server = start_swift()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def llm_engine() -> Iterator[LlmEngine]:
    """llama.cpp's server with Gemma 3 270M on a free loopback port (see tests/services.py)."""
    engine = start_llm_engine()
    try:
        yield engine
    finally:
        engine.stop()
