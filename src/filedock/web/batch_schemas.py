"""Shapes of the Batch API's responses (msgspec Structs), fields in api.openai.com's order."""

from __future__ import annotations

import json

from msgspec import Struct

from filedock.models import BatchPage, BatchRecord, BatchUsage


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


class BatchList(Struct, kw_only=True):
    object: str = "list"
    data: list[BatchObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


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
    return BatchObject(
        id=record.id,
        endpoint=record.endpoint,
        model=record.model,
        errors=errors,
        input_file_id=record.input_file_id,
        completion_window=record.completion_window,
        status=record.status,
        output_file_id=record.output_file_id,
        error_file_id=record.error_file_id,
        created_at=record.created_at,
        in_progress_at=record.in_progress_at,
        expires_at=record.expires_at,
        finalizing_at=record.finalizing_at,
        completed_at=record.completed_at,
        failed_at=record.failed_at,
        expired_at=record.expired_at,
        cancelling_at=record.cancelling_at,
        cancelled_at=record.cancelled_at,
        request_counts=RequestCounts(
            total=record.total, completed=record.completed, failed=record.failed
        ),
        usage=usage_object(usage) if usage is not None else None,
        metadata=json.loads(record.metadata) if record.metadata is not None else None,
    )


def batch_list(page: BatchPage) -> BatchList:
    data = [batch_object(b) for b in page.batches]
    return BatchList(
        data=data,
        first_id=data[0].id if data else None,
        last_id=data[-1].id if data else None,
        has_more=page.has_more,
    )
