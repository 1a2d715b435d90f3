"""The metadata store for a database URL: one Database (one pool) under every aggregate."""

from __future__ import annotations

from filedock.metadata.db import Database
from filedock.metadata.db import redact_url as redact_url
from filedock.metadata.db_sqlite import SqliteDatabase
from filedock.metadata.store import MetadataStore
from filedock.settings import SettingsError

SETTING = "FILEDOCK_DATABASE_URL"
SCHEMES = ("sqlite:///", "postgresql://", "postgres://")


def metadata_store_for_url(url: str, *, pool_size: int = 10) -> MetadataStore:
    """The store for `sqlite:///path` or `postgresql://...` (SettingsError naming the setting).

    Nothing connects until `open()`, which also applies migrations; PostgreSQL's driver is
    imported only for a PostgreSQL URL.
    """
    if not url.startswith(SCHEMES):
        scheme = url.split("://", 1)[0] if "://" in url else url
        raise SettingsError(
            f"{SETTING}: unsupported database URL scheme {scheme!r} "
            "(use sqlite:///path/to/file.sqlite3 or postgresql://user:password@host:port/dbname)"
        )
    return MetadataStore(database_for_url(url, pool_size=pool_size))


def database_for_url(url: str, *, pool_size: int = 10, connect_timeout: float = 10.0) -> Database:
    """The backend for `sqlite:///path` or `postgresql://...` (PostgreSQL's driver only then)."""
    if url.startswith("sqlite:///"):
        return SqliteDatabase(url)
    if url.startswith(("postgresql://", "postgres://")):
        from filedock.metadata.db_postgres import PostgresDatabase

        return PostgresDatabase(url, pool_size=pool_size, connect_timeout=connect_timeout)
    raise ValueError(f"not a database URL: {url.split('://', 1)[0]}://...")
