"""The blob ledger's rows (metadata/ledger.py) on SQLite and PostgreSQL: leases, claims split
between concurrent sweepers, and the publishing insert that consumes (or refuses) an intent."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from filedock.errors import MetadataError
from filedock.metadata.base import MetadataStore
from filedock.metadata.ledger import BlobLedger
from tests.contracts import metadata_common as common
from tests.contracts.metadata_common import NOW, Backend, record

# The same fixtures (and so the same SQLite/PostgreSQL parametrisation) in every suite.
anyio_backend = common.anyio_backend
backend = common.backend
store = common.store

pytestmark = pytest.mark.anyio


def keys(count: int) -> list[str]:
    return [uuid.uuid4().hex for _ in range(count)]


async def test_leases_renew_only_the_owner_s_held_intents(store: MetadataStore) -> None:
    ledger = BlobLedger(store.db)
    mine, theirs = keys(3), keys(1)
    for key in mine:
        await ledger.record(key, "file", "srv_a", NOW + 10, NOW)
    await ledger.record(theirs[0], "part", "srv_b", NOW + 10, NOW)
    assert await ledger.renew("srv_a", [*mine, *theirs], NOW + 60) == set(mine)
    intent = await ledger.get(mine[0])
    assert intent is not None and (intent.state, intent.lease_until) == ("held", NOW + 60)
    await ledger.release(mine[2], "srv_a")
    assert await ledger.get(mine[2]) is None
    # Nothing lapsed yet; once it has, a claim takes the lapsed ones, oldest lease first.
    assert await ledger.claim_lapsed(NOW + 5, "sweep_1", NOW + 100, 10) == []
    claimed = await ledger.claim_lapsed(NOW + 30, "sweep_1", NOW + 200, 10)
    assert [i.key for i in claimed] == [theirs[0]]  # lease NOW + 10 lapsed; mine run to NOW + 60
    assert await ledger.renew("srv_b", theirs, NOW + 300) == set()  # lost to the sweeper
    assert await ledger.is_held(theirs[0], "srv_b") is False


async def test_concurrent_sweepers_split_the_lapsed_intents(backend: Backend) -> None:
    stores = [await backend.open(), await backend.open()]
    try:
        ledgers = [BlobLedger(s.db) for s in stores]
        lapsed = keys(60)
        for key in lapsed:
            await ledgers[0].record(key, "file", "srv_dead", NOW, NOW)
        results = await asyncio.gather(
            *(
                ledger.claim_lapsed(NOW + 1, f"sweep_{n}", NOW + 100, 25)
                for n, ledger in enumerate(ledgers * 3)
            )
        )
        claimed = [intent.key for batch in results for intent in batch]
        assert sorted(claimed) == sorted(lapsed)  # every one, each exactly once
    finally:
        for s in stores:
            await s.close()


async def test_the_publishing_row_consumes_the_intent_or_fails(store: MetadataStore) -> None:
    ledger = BlobLedger(store.db)
    held, claimed, swept = keys(3)
    for key in (held, claimed, swept):
        await ledger.record(key, "file", "srv_a", NOW, NOW)
    await store.insert_file(record(blob_key=held))
    assert await ledger.get(held) is None  # consumed in the insert's statement
    assert await ledger.claim_lapsed(NOW + 1, "sweep_1", NOW + 100, 10) != []
    await ledger.mark_swept([swept], "sweep_1", NOW + 1000)
    for key in (claimed, swept):
        with pytest.raises(MetadataError, match="lease lost"):
            await store.insert_file(record(blob_key=key))
        assert (await ledger.get(key)) is not None  # the failed insert changed nothing
    assert await ledger.referenced([held, claimed, swept]) == {held}
    assert await ledger.purge_swept(NOW + 1001) == 1
    # A row for a key the ledger never saw (written before the ledger existed) is allowed.
    await store.insert_file(record())
