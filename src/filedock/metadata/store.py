"""The metadata store: every aggregate's rows over one shared Database (one connection pool)."""

from __future__ import annotations

import anyio.to_thread

from filedock.errors import MetadataError
from filedock.metadata.db import Database, redact_url
from filedock.metadata.files import FileRows
from filedock.metadata.keys import KeyRows
from filedock.metadata.processing import ProcessingRows
from filedock.metadata.projects import ProjectRows
from filedock.metadata.uploads import UploadRows

SETTING = "FILEDOCK_DATABASE_URL"


class MetadataStore(FileRows, KeyRows, ProjectRows, UploadRows, ProcessingRows):
    """Rows of files, keys, projects and quotas, uploads and processing, on SQLite or PostgreSQL.

    It answers every aggregate's methods itself (the services call `store.get_file(...)`), and
    holds each aggregate (`store.files`, `store.keys`, `store.projects`, `store.uploads`,
    `store.processing`) and the Database (`store.db`) for code that wants only one of them or
    adds its own aggregate over the same pool. Every method is safe to call from the event loop.
    """

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.files = FileRows(db)
        self.keys = KeyRows(db)
        self.projects = ProjectRows(db)
        self.uploads = UploadRows(db)
        self.processing = ProcessingRows(db)

    @property
    def url(self) -> str:
        return self.db.url

    async def open(self) -> None:
        """Connect, then bring the schema to the newest revision."""
        try:
            await self.db.open()
            await anyio.to_thread.run_sync(_migrate, self.db.url)
        except Exception as exc:
            await self.db.close()
            if isinstance(exc, MetadataError):
                raise
            raise MetadataError(
                f"{SETTING}: cannot open the metadata database {redact_url(self.db.url)}: {exc}"
            ) from exc

    async def close(self) -> None:
        """Wait for running statements, then release every connection."""
        await self.db.close()

    async def ping(self) -> None:
        """Raise MetadataError when the database cannot be reached."""
        await self.db.ping()


def _migrate(url: str) -> None:
    # Imported here: Alembic (and SQLAlchemy) load only when a store opens.
    from filedock.metadata import migrate

    migrate.upgrade(url)
