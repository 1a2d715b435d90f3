"""Blob stores: where file bytes live (local disk now; one class per backend)."""

from filedock.blobs.base import BlobInfo, BlobStore, BlobWriter
from filedock.blobs.local import LocalBlobStore

__all__ = ["BlobInfo", "BlobStore", "BlobWriter", "LocalBlobStore"]
