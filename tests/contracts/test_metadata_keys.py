"""The API keys aggregate's contract."""

from __future__ import annotations

import pytest

from filedock.metadata.base import MetadataStore
from filedock.models import ApiKeyRecord
from tests.contracts import metadata_common as common
from tests.contracts.metadata_common import NOW, PROJECT

# The same fixtures (and so the same SQLite/PostgreSQL parametrisation) in every suite.
anyio_backend = common.anyio_backend
backend = common.backend
store = common.store

pytestmark = pytest.mark.anyio


async def test_api_keys(store: MetadataStore) -> None:
    first = ApiKeyRecord("key_a", PROJECT, "ci", "sk-fd-aaaa", "hash-a", NOW)
    second = ApiKeyRecord("key_b", PROJECT, "", "sk-fd-bbbb", "hash-b", NOW + 1)
    await store.insert_api_key(second)
    await store.insert_api_key(first)
    assert await store.find_api_key("hash-a") == first
    assert await store.find_api_key("hash-x") is None
    assert await store.list_api_keys() == [first, second]
    revoked = await store.revoke_api_key("key_a", NOW + 5)
    assert revoked is not None and revoked.revoked_at == NOW + 5
    again = await store.revoke_api_key("key_a", NOW + 9)
    assert again is not None and again.revoked_at == NOW + 5  # the first revocation stands
    by_prefix = await store.revoke_api_key("sk-fd-bbbb", NOW + 6)
    assert by_prefix is not None and by_prefix.id == "key_b"
    assert await store.revoke_api_key("key_zzz", NOW) is None
    found = await store.find_api_key("hash-b")
    assert found is not None and found.revoked_at == NOW + 6
