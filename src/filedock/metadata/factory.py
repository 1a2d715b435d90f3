"""Picks the metadata store for a database URL by its scheme."""

# redact_url is re-exported for callers that import it from here.

from __future__ import annotations

from filedock.metadata.base import MetadataStore
from filedock.metadata.db import redact_url as redact_url
from filedock.settings import SettingsError

SETTING = "FILEDOCK_DATABASE_URL"


def store_for_url(url: str, *, pool_size: int = 10) -> MetadataStore:
    """The store for `sqlite:///path` or `postgresql://...` (SettingsError naming the setting).

    Backends are imported lazily so the embedded default never needs the PostgreSQL driver.
    """
    if url.startswith("sqlite:///"):
        from filedock.metadata.sqlite import SqliteMetadataStore

        return SqliteMetadataStore(url)
    if url.startswith(("postgresql://", "postgres://")):
        from filedock.metadata.postgres import PostgresMetadataStore

        return PostgresMetadataStore(url, pool_size=pool_size)
    scheme = url.split("://", 1)[0] if "://" in url else url
    raise SettingsError(
        f"{SETTING}: unsupported database URL scheme {scheme!r} "
        "(use sqlite:///path/to/file.sqlite3 or postgresql://user:password@host:port/dbname)"
    )
