"""API key rows: only a key's hash and a short prefix are stored."""

from __future__ import annotations

from typing import Any

from filedock.metadata.rows import Rows
from filedock.metadata.tables import API_KEYS
from filedock.models import ApiKeyRecord

OLDEST_FIRST = "ORDER BY created_at, id"


class KeyRows(Rows):
    """Rows of API keys (a project's keys are revoked with it: see ProjectRows)."""

    async def insert_api_key(self, record: ApiKeyRecord) -> None:
        """Store a new key (hash and prefix only)."""
        await self.db.execute(API_KEYS.insert_sql, API_KEYS.values(record))

    async def find_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        """The key with this hash, revoked or not."""
        return await self._one("key_hash = ?", (key_hash,))

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key with this id, revoked or not."""
        return await self._one("id = ?", (key_id,))

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        """Every stored key, oldest first."""
        rows = await self.db.fetch_all(f"{API_KEYS.select_sql} {OLDEST_FIRST}")
        return [API_KEYS.row(r) for r in rows]

    async def list_project_api_keys(self, project_id: str) -> list[ApiKeyRecord]:
        """The project's keys, oldest first."""
        rows = await self.db.fetch_all(
            f"{API_KEYS.select_sql} WHERE project_id = ? {OLDEST_FIRST}", (project_id,)
        )
        return [API_KEYS.row(r) for r in rows]

    async def revoke_api_key(self, key_id_or_prefix: str, now: int) -> ApiKeyRecord | None:
        """Revoke by id or prefix (the first revocation stands); None if no such key."""
        row = await self.db.fetch_one(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) "
            f"WHERE id = ? OR prefix = ? RETURNING {API_KEYS.columns}",
            (now, key_id_or_prefix, key_id_or_prefix),
        )
        return API_KEYS.row(row) if row else None

    async def _one(self, where: str, params: tuple[Any, ...]) -> ApiKeyRecord | None:
        row = await self.db.fetch_one(f"{API_KEYS.select_sql} WHERE {where}", params)
        return API_KEYS.row(row) if row else None
