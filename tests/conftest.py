"""Fixtures: the real ASGI app in process, and a real server process for the official SDK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from filedock.settings import Settings
from filedock.web import create_app
from tests.helpers import TEST_KEY, ServerProcess, make_server

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", api_key=TEST_KEY, sweep_interval_seconds=3600)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """The real app in process (real SQLite file, real local blob folder), authenticated."""
    with TestClient(create_app(settings), headers=AUTH, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real `filedock serve` on a free loopback port, shared by one test module."""
    server = make_server(tmp_path_factory.mktemp("live") / "data").start()
    try:
        yield server
    finally:
        server.stop()
