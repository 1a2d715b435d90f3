"""Shapes of the Batch API's responses (msgspec Structs), fields in api.openai.com's order."""

from __future__ import annotations

import json

from msgspec import Struct

from filedock.models import BatchPage, BatchRecord, BatchUsage
from filedock.web.schemas import ListObject, list_object, struct_from


class BatchErrorObject(Struct, kw_only=True):
    code: str | None
    message: str | None
    param: str | None
    line: int | None


class BatchErrors(Struct, kw_only=True):
    object: str = "list"
    data: list[BatchErrorObject]


class RequestCounts(Struct, kw_only=True):
    total: int
    completed: int
    failed: int


class InputTokensDetails(Struct, kw_only=True):
    cached_tokens: int


class OutputTokensDetails(Struct, kw_only=True):
    reasoning_tokens: int


class UsageObject(Struct, kw_only=True):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class BatchObject(Struct, kw_only=True):
    """The Batch object: exactly OpenAI's keys, in its order (null where unset)."""

    id: str
    object: str = "batch"
    endpoint: str
    model: str | None
    errors: BatchErrors | None
    input_file_id: str
    completion_window: str
    status: str
    output_file_id: str | None
    error_file_id: str | None
    created_at: int
    in_progress_at: int | None
    expires_at: int | None
    finalizing_at: int | None
    completed_at: int | None
    failed_at: int | None
    expired_at: int | None
    cancelling_at: int | None
    cancelled_at: int | None
    request_counts: RequestCounts
    usage: UsageObject | None
    metadata: dict[str, str] | None


def usage_object(usage: BatchUsage) -> UsageObject:
    return UsageObject(
        input_tokens=usage.input_tokens,
        input_tokens_details=InputTokensDetails(cached_tokens=usage.cached_tokens),
        output_tokens=usage.output_tokens,
        output_tokens_details=OutputTokensDetails(reasoning_tokens=usage.reasoning_tokens),
        total_tokens=usage.total_tokens,
    )


def batch_object(record: BatchRecord) -> BatchObject:
    usage = record.usage
    errors = (
        BatchErrors(data=[BatchErrorObject(**e) for e in json.loads(record.errors)])
        if record.errors is not None
        else None
    )
    return struct_from(
        BatchObject,
        record,
        errors=errors,
        request_counts=RequestCounts(
            total=record.total, completed=record.completed, failed=record.failed
        ),
        usage=usage_object(usage) if usage is not None else None,
        metadata=json.loads(record.metadata) if record.metadata is not None else None,
    )


def batch_list(page: BatchPage) -> ListObject[BatchObject]:
    return list_object([batch_object(b) for b in page.batches], page.has_more)
