"""BatchService: the Batch API's operations and rules (create, retrieve, list, cancel).

A created batch is stored in status `validating` and answered at once; the runner
(services/batch_runner.py) checks its input, runs its requests and writes its files.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from filedock.clock import Clock
from filedock.errors import BatchNotFound, InvalidRequest
from filedock.ids import new_batch_id
from filedock.metadata.batches import BatchCursorNotFound, BatchRows
from filedock.models import BATCH_ENDPOINTS, BATCH_TERMINAL, BatchPage, BatchRecord
from filedock.services import audit
from filedock.services.files import EXPIRY_MAX_SECONDS, EXPIRY_MIN_SECONDS, FileService
from filedock.settings import Settings

log = logging.getLogger("filedock.batches")

CREATE_FIELDS = (
    "input_file_id",
    "endpoint",
    "completion_window",
    "metadata",
    "output_expires_after",
)
LIST_LIMIT_MAX = 100
LIST_LIMIT_DEFAULT = 20
METADATA_MAX_KEYS = 16
METADATA_KEY_MAX = 64
METADATA_VALUE_MAX = 512


def _one_of(value: Any, allowed: tuple[str, ...], param: str) -> InvalidRequest:
    listed = "[" + ", ".join(f"'{a}'" for a in allowed) + "]"
    return InvalidRequest(f"{json.dumps(value)} is not one of {listed} - '{param}'", param=param)


class BatchService:
    """The operations of the Batch API. Knows nothing of HTTP."""

    def __init__(
        self,
        settings: Settings,
        rows: BatchRows,
        files: FileService,
        clock: Clock,
        kick: Callable[[], None] = lambda: None,
    ) -> None:
        self.settings = settings
        self.rows = rows
        self.files = files
        self.clock = clock
        self.kick = kick  # tells the runner there is news (a new or cancelled batch)

    # rules ---------------------------------------------------------------------------------
    def check_create(self, body: Any) -> dict[str, Any]:
        """The create request's fields, checked; raises InvalidRequest."""
        if not isinstance(body, dict):
            raise InvalidRequest("The request body must be a JSON object.")
        for key in body:
            if key not in CREATE_FIELDS:
                raise InvalidRequest(
                    f"Additional properties are not allowed ('{key}' was unexpected)", param=key
                )
        for key in ("input_file_id", "endpoint", "completion_window"):
            if key not in body:
                raise InvalidRequest(f"'{key}' is a required property", param=key)
        if not isinstance(body["input_file_id"], str) or not body["input_file_id"]:
            raise InvalidRequest(
                f"{json.dumps(body['input_file_id'])} is not of type 'string' - 'input_file_id'",
                param="input_file_id",
            )
        if body["endpoint"] not in BATCH_ENDPOINTS:
            raise _one_of(body["endpoint"], BATCH_ENDPOINTS, "endpoint")
        if body["completion_window"] != "24h":
            raise _one_of(body["completion_window"], ("24h",), "completion_window")
        self._check_metadata(body.get("metadata"))
        return body

    def _check_metadata(self, metadata: Any) -> None:
        if metadata is None:
            return
        if not isinstance(metadata, dict):
            raise InvalidRequest("'metadata' must be an object of strings", param="metadata")
        if len(metadata) > METADATA_MAX_KEYS:
            raise InvalidRequest(
                f"Invalid 'metadata': too many keys ({len(metadata)}); at most "
                f"{METADATA_MAX_KEYS} are allowed",
                param="metadata",
            )
        for key, value in metadata.items():
            if len(key) > METADATA_KEY_MAX:
                raise InvalidRequest(
                    f"Invalid 'metadata': key '{key[:20]}...' is longer than "
                    f"{METADATA_KEY_MAX} characters",
                    param="metadata",
                )
            if not isinstance(value, str):
                raise InvalidRequest(
                    f"Invalid 'metadata': the value of '{key}' must be a string",
                    param=f"metadata.{key}",
                )
            if len(value) > METADATA_VALUE_MAX:
                raise InvalidRequest(
                    f"Invalid 'metadata': the value of '{key}' is longer than "
                    f"{METADATA_VALUE_MAX} characters",
                    param=f"metadata.{key}",
                )

    def _expires_after(self, value: Any) -> int | None:
        if value is None:
            return None
        param = "output_expires_after"
        if not isinstance(value, dict):
            raise InvalidRequest(f"'{param}' must be an object", param=param)
        unknown = set(value) - {"anchor", "seconds"}
        if unknown:
            raise InvalidRequest(
                f"Additional properties are not allowed ('{sorted(unknown)[0]}' was unexpected)",
                param=param,
            )
        if value.get("anchor") != "created_at":
            raise _one_of(value.get("anchor"), ("created_at",), f"{param}.anchor")
        seconds = value.get("seconds")
        if not isinstance(seconds, int) or isinstance(seconds, bool):
            raise InvalidRequest(
                f"{json.dumps(seconds)} is not of type 'integer' - '{param}.seconds'",
                param=f"{param}.seconds",
            )
        if not EXPIRY_MIN_SECONDS <= seconds <= EXPIRY_MAX_SECONDS:
            raise InvalidRequest(
                f"{seconds} is out of range: {param}.seconds must be between "
                f"{EXPIRY_MIN_SECONDS} and {EXPIRY_MAX_SECONDS}",
                param=f"{param}.seconds",
            )
        return seconds

    # operations ----------------------------------------------------------------------------
    async def create_batch(self, project_id: str, body: Any) -> BatchRecord:
        """Store a new batch in status `validating` (its input is checked by the runner)."""
        fields = self.check_create(body)
        expires_after = self._expires_after(fields.get("output_expires_after"))
        input_file = await self.files.retrieve_file(project_id, fields["input_file_id"])
        if input_file.purpose != "batch":
            raise InvalidRequest(
                f"The input file {input_file.id} has purpose '{input_file.purpose}'; a batch "
                "needs a file of purpose 'batch'.",
                param="input_file_id",
            )
        now = self.clock.now()
        metadata = fields.get("metadata")
        record = BatchRecord(
            id=new_batch_id(),
            project_id=project_id,
            endpoint=fields["endpoint"],
            model=None,
            input_file_id=input_file.id,
            completion_window="24h",
            status="validating",
            output_file_id=None,
            error_file_id=None,
            created_at=now,
            in_progress_at=None,
            expires_at=now + self.settings.batch_window_seconds,
            finalizing_at=None,
            completed_at=None,
            failed_at=None,
            expired_at=None,
            cancelling_at=None,
            cancelled_at=None,
            total=0,
            completed=0,
            failed=0,
            input_tokens=None,
            cached_tokens=None,
            output_tokens=None,
            reasoning_tokens=None,
            total_tokens=None,
            errors=None,
            metadata=json.dumps(metadata) if metadata is not None else None,
            output_expires_after=expires_after,
            input_blob_key=None,
            output_file_reserved=None,
            error_file_reserved=None,
            engine=None,
            lease_owner=None,
            lease_until=None,
        )
        await self.rows.insert(record)
        audit.record(
            "batch.created",
            self.clock.time(),
            project_id=project_id,
            batch_id=record.id,
            file_id=input_file.id,
        )
        self.kick()
        return record

    async def retrieve_batch(self, project_id: str, batch_id: str) -> BatchRecord:
        record = await self.rows.get(batch_id, project_id)
        if record is None:
            raise BatchNotFound(batch_id)
        return record

    async def list_batches(
        self, project_id: str, *, after: str | None = None, limit: int = LIST_LIMIT_DEFAULT
    ) -> BatchPage:
        if not 1 <= limit <= LIST_LIMIT_MAX:
            raise InvalidRequest(
                f"{limit} is out of range: limit must be between 1 and {LIST_LIMIT_MAX}",
                param="limit",
            )
        try:
            records, has_more = await self.rows.list_page(project_id, limit=limit, after=after)
        except BatchCursorNotFound:
            raise InvalidRequest(f"No such Batch object: {after}", param="after") from None
        return BatchPage(records, has_more)

    async def cancel_batch(self, project_id: str, batch_id: str) -> BatchRecord:
        """validating or in_progress -> cancelling; the runner stops it and writes its files."""
        record = await self.retrieve_batch(project_id, batch_id)
        if record.status in ("cancelling", "cancelled"):
            return record
        if record.status in BATCH_TERMINAL or record.status == "finalizing":
            raise InvalidRequest(
                f"Cannot cancel a batch with status '{record.status}'.", param="batch_id"
            )
        now = self.clock.now()
        moved = await self.rows.set_status(
            batch_id, "cancelling", ("validating", "in_progress"), cancelling_at=now
        )
        if not moved:  # it moved on meanwhile (finished, or cancelled by someone else)
            return await self.cancel_batch(project_id, batch_id)
        audit.record("batch.cancelled", self.clock.time(), project_id=project_id, batch_id=batch_id)
        self.kick()
        return await self.retrieve_batch(project_id, batch_id)
