"""Shapes of the Batch API's responses (msgspec Structs), fields in api.openai.com's order."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields

from msgspec import Struct

from filedock.models import BatchLifecycle, BatchRecord, BatchUsage, Page
from filedock.web.schemas import ListObject, list_object


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


@dataclass(frozen=True, kw_only=True)
class _BatchHead:
    id: str
    object: str = "batch"
    endpoint: str
    model: str | None
    errors: BatchErrors | None


@dataclass(frozen=True, kw_only=True)
class _BatchTail:
    request_counts: RequestCounts
    usage: UsageObject | None
    metadata: dict[str, str] | None


@dataclass(frozen=True, kw_only=True)
class BatchObject(_BatchTail, BatchLifecycle, _BatchHead):
    """The Batch object: exactly OpenAI's keys, in its order (null where unset).

    A dataclass, so that the stored lifecycle's run of fields sits between OpenAI's own: a
    dataclass's fields go base by base from the last base (head, lifecycle, tail), and msgspec
    encodes them in that order.
    """


_LIFECYCLE = tuple(f.name for f in fields(BatchLifecycle))  # copied as stored


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
        **{name: getattr(record, name) for name in _LIFECYCLE},
        id=record.id,
        endpoint=record.endpoint,
        model=record.model,
        errors=errors,
        request_counts=RequestCounts(
            total=record.total, completed=record.completed, failed=record.failed
        ),
        usage=usage_object(usage) if usage is not None else None,
        metadata=json.loads(record.metadata) if record.metadata is not None else None,
    )


def batch_list(page: Page[BatchRecord]) -> ListObject[BatchObject]:
    return list_object([batch_object(b) for b in page.data], page.has_more)
