"""The one bootstrap key row: created at most once, however many servers start at once."""

from __future__ import annotations

from filedock.metadata.db import Database
from filedock.metadata.table import Table
from filedock.models import ApiKeyRecord

API_KEYS = Table("api_keys", ApiKeyRecord)


class BootstrapKeyRows:
    """Inserts the bootstrap key under its fixed id; the primary key picks one winner."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def insert_if_absent(self, record: ApiKeyRecord) -> bool:
        """Insert the key unless a key with its id exists; whether this call inserted it."""
        changed = await self.db.execute(
            API_KEYS.insert_sql + " ON CONFLICT (id) DO NOTHING", API_KEYS.values(record)
        )
        return changed == 1
