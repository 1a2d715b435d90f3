"""The one error tree: each error knows its HTTP status and OpenAI error `type`/`code`."""

from __future__ import annotations

from typing import Any, ClassVar


class FiledockError(Exception):
    """Base of every error a client can see; rendered as the OpenAI envelope by the web layer."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "server_error"
    code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers or {}
        if code is not None:
            self.code = code  # type: ignore[misc]

    def envelope(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


class RequestError(FiledockError):
    """4xx: the client's request cannot be served (OpenAI's `invalid_request_error`)."""

    status = 400
    type = "invalid_request_error"


class InvalidRequest(RequestError):
    """400: the request is malformed or breaks a rule."""


class FileTooLarge(InvalidRequest):
    code = "file_too_large"


class InvalidFileContent(InvalidRequest):
    """400 in strict mode: the uploaded content failed validation."""

    code = "invalid_file_format"


class NotFound(RequestError):
    status = 404


class FileNotFound(NotFound):
    def __init__(self, file_id: str):
        super().__init__(f"No such File object: {file_id}", param="id")


class UploadNotFound(NotFound):
    def __init__(self, upload_id: str):
        super().__init__(f"No such Upload object: {upload_id}", param="upload_id")


class UploadStateError(InvalidRequest):
    """The Upload is not in a state that allows the operation (completed, cancelled, expired)."""

    code = "invalid_upload_state"


class RangeNotSatisfiable(RequestError):
    status = 416
    code = "range_not_satisfiable"


class AuthenticationFailed(RequestError):
    status = 401
    code = "invalid_api_key"


class PermissionDenied(RequestError):
    status = 403


class MismatchedProject(AuthenticationFailed):
    """401: the `OpenAI-Project` header names a project other than the key's."""

    code = "mismatched_project"


class AdminRequired(PermissionDenied):
    """403: the operation needs an admin key."""

    code = "insufficient_permissions"


class StorageQuotaExceeded(InvalidRequest):
    """400 (never retried by the SDK, unlike 409/429): the project has no room for the bytes."""

    code = "storage_quota_exceeded"


class MethodNotAllowed(RequestError):
    status = 405


class RateLimited(FiledockError):
    status = 429
    type = "requests"
    code = "rate_limit_exceeded"


class ServerError(FiledockError):
    """500: a fault of ours, never a client's mistake."""

    status = 500
    type = "server_error"


class StorageError(ServerError):
    """The blob store failed (disk full, S3 unreachable...)."""


class BlobNotFound(StorageError):
    """Bytes expected in the blob store are missing."""


class MetadataError(ServerError):
    """The metadata store failed."""


class BatchNotFound(NotFound):
    def __init__(self, batch_id: str):
        super().__init__(f"No such Batch object: {batch_id}", param="batch_id")
