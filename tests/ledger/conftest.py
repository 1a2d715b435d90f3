"""Fixtures for the blob ledger: one stack per backend pair, with a clock the test moves."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from filedock.clock import FakeClock
from filedock.components import Components
from filedock.settings import Settings

LEASE = 10


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Stack:
    """A server's components on one backend pair; `clock` drives leases and sweeps."""

    name: str
    settings: Settings
    components: Components
    clock: FakeClock


def stack_settings(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    base = {
        "blob_lease_seconds": LEASE,
        "reject_invalid": True,
        "fine_tune_min_examples": 1,
        "orphan_grace_seconds": 0,
        "sweep_interval_seconds": 3600,
    }
    if name == "sqlite-disk":
        return Settings.from_env({}, data_dir=tmp_path / "data", **base)
    postgres = request.getfixturevalue("postgres_server")
    swift = request.getfixturevalue("swift_server")
    env = {"FILEDOCK_DATABASE_URL": postgres.database(), **swift.env(swift.bucket())}
    return Settings.from_env(env, data_dir=tmp_path / "data", **base)


@pytest.fixture(
    params=[
        pytest.param("sqlite-disk"),
        pytest.param("postgres-s3", marks=[pytest.mark.postgres, pytest.mark.s3]),
    ]
)
def stack_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def stack(
    stack_name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Stack]:
    settings = stack_settings(stack_name, request, tmp_path)
    clock = FakeClock(time.time())
    components = Components.build(settings, clock=clock)
    await components.open()
    try:
        yield Stack(stack_name, settings, components, clock)
    finally:
        await components.close()
