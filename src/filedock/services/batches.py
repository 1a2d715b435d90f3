"""BatchService: the Batch API's operations and rules (create, retrieve, list, cancel).

A created batch is stored in status `validating` and answered at once; the runner
(services/batch_runner.py) checks its input, runs its requests and writes its files.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from filedock.clock import Clock
from filedock.errors import BatchNotFound, InvalidRequest
from filedock.ids import new_batch_id
from filedock.metadata.batches import BatchCursorNotFound, BatchRows
from filedock.models import BATCH_TERMINAL, BatchRecord, Page
from filedock.services import audit
from filedock.services.files import FileService
from filedock.settings import Settings

log = logging.getLogger("filedock.batches")

LIST_LIMIT_MAX = 100
LIST_LIMIT_DEFAULT = 20


@dataclass(frozen=True)
class CreateBatch:
    """The fields of a new batch, checked (web/batch_requests.py reads them from the request)."""

    input_file_id: str
    endpoint: str
    metadata: dict[str, str] | None = None
    output_expires_after: int | None = None  # seconds after the output file's creation


class BatchService:
    """The operations of the Batch API. Knows nothing of HTTP."""

    def __init__(
        self,
        settings: Settings,
        rows: BatchRows,
        files: FileService,
        clock: Clock,
        kick: Callable[[], None] = lambda: None,
        stop: Callable[[str], None] = lambda batch_id: None,
    ) -> None:
        self.settings = settings
        self.rows = rows
        self.files = files
        self.clock = clock
        self.kick = kick  # tells the runner there is news (a new batch)
        self.stop = stop  # tells the runner to send no more of a batch (cancelled)

    # operations ----------------------------------------------------------------------------
    async def create_batch(self, project_id: str, fields: CreateBatch) -> BatchRecord:
        """Store a new batch in status `validating` (its input is checked by the runner)."""
        input_file = await self.files.retrieve_file(project_id, fields.input_file_id)
        if input_file.purpose != "batch":
            raise InvalidRequest(
                f"The input file {input_file.id} has purpose '{input_file.purpose}'; a batch "
                "needs a file of purpose 'batch'.",
                param="input_file_id",
            )
        now = self.clock.now()
        record = BatchRecord.new(
            id=new_batch_id(),
            project_id=project_id,
            endpoint=fields.endpoint,
            input_file_id=input_file.id,
            created_at=now,
            expires_at=now + self.settings.batch_window_seconds,
            metadata=json.dumps(fields.metadata) if fields.metadata is not None else None,
            output_expires_after=fields.output_expires_after,
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
    ) -> Page[BatchRecord]:
        if not 1 <= limit <= LIST_LIMIT_MAX:
            raise InvalidRequest(
                f"{limit} is out of range: limit must be between 1 and {LIST_LIMIT_MAX}",
                param="limit",
            )
        try:
            records, has_more = await self.rows.list_page(project_id, limit=limit, after=after)
        except BatchCursorNotFound:
            raise InvalidRequest(f"No such Batch object: {after}", param="after") from None
        return Page(records, has_more)

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
        self.stop(batch_id)
        return await self.retrieve_batch(project_id, batch_id)
