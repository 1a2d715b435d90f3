"""The names services import from the metadata layer (the store and the types it answers)."""

from filedock.metadata.files import SORT_KEYS, SortKey
from filedock.metadata.rows import CursorNotFound, Order, ResizeOutcome
from filedock.metadata.store import MetadataStore

__all__ = ["SORT_KEYS", "CursorNotFound", "MetadataStore", "Order", "ResizeOutcome", "SortKey"]
