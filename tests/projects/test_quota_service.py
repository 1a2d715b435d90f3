"""QuotaService, the API the Uploads API calls: reserve / grow / settle / renew / release."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from filedock.clock import FakeClock
from filedock.components import Components
from filedock.errors import StorageQuotaExceeded
from filedock.services.quotas import GROW_BLOCK
from filedock.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def components(tmp_path: Path) -> AsyncIterator[Components]:
    c = Components.build(
        Settings(data_dir=tmp_path / "data", quota_lease_seconds=600), clock=FakeClock()
    )
    await c.open()
    try:
        yield c
    finally:
        await c.close()


async def _counters(c: Components, project_id: str) -> tuple[int, int]:
    project = await c.projects.get_project(project_id)
    return project.used_bytes, project.reserved_bytes


async def test_concurrent_reservations_are_atomic(components: Components) -> None:
    project = await components.projects.create_project("p", storage_quota_bytes=1000)
    quotas = components.quotas

    async def one() -> bool:
        try:
            await quotas.reserve(project.id, 100)
        except StorageQuotaExceeded:
            return False
        return True

    outcomes = await asyncio.gather(*(one() for _ in range(64)))
    assert outcomes.count(True) == 10
    assert await _counters(components, project.id) == (0, 1000)
    assert await quotas.release_expired() == 0  # all leases are live


async def test_grow_settle_release_and_a_lost_lease(components: Components) -> None:
    project = await components.projects.create_project("p", storage_quota_bytes=10_000)
    quotas = components.quotas
    roomy = await components.projects.create_project("roomy")
    block = await quotas.reserve(roomy.id, 0)
    await quotas.grow(block, 1)  # a block (8 MiB) when it fits ...
    assert block.bytes == GROW_BLOCK
    await quotas.release(block)
    held = await quotas.reserve(project.id, 0)
    await quotas.grow(held, 1)  # ... else exactly what is needed
    assert held.bytes == 1
    await quotas.grow(held, 2000)
    await quotas.settle(held, 1234)
    assert await _counters(components, project.id) == (0, 1234)
    other = await quotas.reserve(project.id, 10_000 - 1234)
    with pytest.raises(StorageQuotaExceeded, match=r"10000 of 10000 bytes used"):
        await quotas.grow(held, 1235)
    await quotas.release(other)
    await quotas.release(other)  # idempotent
    # The sweeper took the hold (its lease ran out): the next resize takes it again.
    await components.metadata.release_reservation(held.id)
    await quotas.renew(held)
    assert await _counters(components, project.id) == (0, 1234)
    await quotas.release(held)
    assert await _counters(components, project.id) == (0, 0)


async def test_expired_leases_are_released(components: Components) -> None:
    project = await components.projects.create_project("p", storage_quota_bytes=1000)
    quotas = components.quotas
    clock = components.clock
    assert isinstance(clock, FakeClock)
    await quotas.reserve(project.id, 300, lease_seconds=1)
    kept = await quotas.reserve(project.id, 200)
    assert await quotas.release_expired() == 0
    clock.advance(1)  # the short lease's last second
    assert await quotas.release_expired() == 1
    assert await _counters(components, project.id) == (0, 200)
    await quotas.release(kept)
