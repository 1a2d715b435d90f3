"""Metadata stores: where rows live (SQLite now; one class per backend)."""

from filedock.metadata.base import MetadataStore
from filedock.metadata.sqlite import SqliteMetadataStore

__all__ = ["MetadataStore", "SqliteMetadataStore"]
