"""A Python client for OpenAI-compatible Files APIs (filedock or api.openai.com), on httpx.

Mirrors the official SDK's `client.files` and adds progress callbacks, chunked parallel uploads
through the Uploads API with per-part retries, and downloads streamed to a path.
"""

from filedock.client._async.client import AsyncFilesClient
from filedock.client._common import ProgressCallback
from filedock.client._sync.client import FilesClient
from filedock.client.errors import (
    APIConnectionError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    FiledockClientError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    ProcessingTimeout,
    RateLimitError,
    UnprocessableEntityError,
    UploadCancelled,
)
from filedock.client.types import (
    Batch,
    BatchList,
    BatchRequestCounts,
    FileDeleted,
    FileList,
    FileObject,
    Upload,
)

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "AsyncFilesClient",
    "AuthenticationError",
    "BadRequestError",
    "Batch",
    "BatchList",
    "BatchRequestCounts",
    "ConflictError",
    "FileDeleted",
    "FileList",
    "FileObject",
    "FiledockClientError",
    "FilesClient",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProcessingTimeout",
    "ProgressCallback",
    "RateLimitError",
    "UnprocessableEntityError",
    "Upload",
    "UploadCancelled",
]
