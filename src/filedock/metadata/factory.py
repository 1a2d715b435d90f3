"""Picks the metadata store for a database URL by its scheme."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from filedock.metadata.base import MetadataStore
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


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))
