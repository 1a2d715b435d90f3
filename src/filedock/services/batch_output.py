"""A batch's output and error files: lines, and the files streamed from the request rows.

Output line: {"id": "batch_req_...", "custom_id", "response": {"status_code", "request_id",
"body"}, "error": null}. Error file lines have the same shape with the engine's non-2xx answer,
or `response: null` and `error: {code, message}` for requests that never got one. Files are
written in line order, page by page from the rows (constant memory at any size), through the
FileService's publishing path, under ids reserved before writing (a finalizer that crashed
after publishing finds its file again instead of writing a second one).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import msgspec

from filedock.blobs.base import BlobStore
from filedock.errors import FileNotFound
from filedock.ids import new_batch_request_id, new_blob_key
from filedock.metadata.batches import BatchRows
from filedock.models import BatchRecord, BatchUsage
from filedock.services.files import FileService

PAGE_ROWS = 500
ENDED = {
    "expired": (
        "batch_expired",
        "This request could not be executed before the completion window expired.",
    ),
    "cancelled": ("batch_cancelled", "This request was cancelled before it finished."),
}


class _Details(msgspec.Struct):
    cached_tokens: int = 0
    reasoning_tokens: int = 0


class _Usage(msgspec.Struct):
    # Chat/completions/embeddings name them prompt/completion; responses names them input/output.
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    prompt_tokens_details: _Details | None = None
    completion_tokens_details: _Details | None = None
    input_tokens_details: _Details | None = None
    output_tokens_details: _Details | None = None


class _Answer(msgspec.Struct):
    usage: _Usage | None = None


_answer = msgspec.json.Decoder(_Answer)


def _usage(usage: _Usage | None) -> BatchUsage | None:
    if usage is None:
        return None
    prompt = usage.input_tokens if usage.input_tokens is not None else usage.prompt_tokens or 0
    output = (
        usage.output_tokens if usage.output_tokens is not None else usage.completion_tokens or 0
    )
    inputs = usage.input_tokens_details or usage.prompt_tokens_details
    outputs = usage.output_tokens_details or usage.completion_tokens_details
    return BatchUsage(
        input_tokens=prompt,
        cached_tokens=inputs.cached_tokens if inputs else 0,
        output_tokens=output,
        reasoning_tokens=outputs.reasoning_tokens if outputs else 0,
        total_tokens=usage.total_tokens if usage.total_tokens is not None else prompt + output,
    )


def _read_body(body: bytes) -> tuple[bytes, BatchUsage | None]:
    """The engine's body as JSON text on one line, and its token counts, in one parse.

    A JSON body is passed through unchanged (newlines outside strings are whitespace and are
    dropped; inside strings JSON has none); anything else becomes a JSON string.
    """
    try:
        usage = _usage(_answer.decode(body).usage)
    except msgspec.ValidationError:
        usage = None  # JSON, but not an object with a usage we understand
    except msgspec.DecodeError:
        return json.dumps(body.decode("utf-8", "replace")).encode(), None
    if b"\n" in body or b"\r" in body:
        body = body.replace(b"\r", b"").replace(b"\n", b"")
    return body, usage


def answered_line(
    custom_id: str, status: int, request_id: str, body: bytes
) -> tuple[str, BatchUsage | None]:
    """An output (2xx) or error (non-2xx) line carrying the engine's answer, and its usage."""
    text, usage = _read_body(body)
    head = json.dumps(
        {"id": new_batch_request_id(), "custom_id": custom_id}, separators=(",", ":")
    )[:-1]
    line = (
        f'{head},"response":{{"status_code":{status},"request_id":{json.dumps(request_id)},'
        f'"body":{text.decode("utf-8", "replace")}}},"error":null}}'
    )
    return line, usage


def unanswered_line(custom_id: str, code: str, message: str) -> str:
    """An error line for a request that got no answer."""
    return json.dumps(
        {
            "id": new_batch_request_id(),
            "custom_id": custom_id,
            "response": None,
            "error": {"code": code, "message": message},
        },
        separators=(",", ":"),
    )


@dataclass(frozen=True)
class BatchFiles:
    output_file_id: str | None
    error_file_id: str | None
    failed: int  # lines in the error file


class BatchFileWriter:
    """Writes the files of an ending batch from its request rows."""

    def __init__(self, files: FileService, blobs: BlobStore, rows: BatchRows) -> None:
        self.files = files
        self.blobs = blobs
        self.rows = rows

    async def write(
        self,
        batch: BatchRecord,
        ending: str,
        reserved: tuple[str, str],
        keep_alive: Callable[[], Awaitable[None]],
    ) -> BatchFiles:
        """`ending` is the final status: completed, expired or cancelled."""
        output_id = await self._one(batch, ending, "output", reserved[0], keep_alive)
        failed: list[int] = [0]
        error_id = await self._one(batch, ending, "error", reserved[1], keep_alive, failed)
        return BatchFiles(output_id, error_id, failed[0])

    async def _one(
        self,
        batch: BatchRecord,
        ending: str,
        kind: str,
        file_id: str,
        keep_alive: Callable[[], Awaitable[None]],
        counter: list[int] | None = None,
    ) -> str | None:
        lines = self._lines(batch.id, ending, kind, keep_alive)
        exists = await self._exists(batch.project_id, file_id)
        if exists:
            # Published before a crash: only the count is needed again.
            async for _ in lines:
                if counter is not None:
                    counter[0] += 1
            return file_id
        key = new_blob_key()
        written = [0]

        async def chunks() -> AsyncIterator[bytes]:
            buffer = bytearray()
            async for line in lines:
                written[0] += 1
                buffer += line
                if len(buffer) >= 1024 * 1024:
                    yield bytes(buffer)
                    buffer.clear()
            if buffer:
                yield bytes(buffer)

        info = await self.blobs.put(key, chunks())
        if counter is not None:
            counter[0] += written[0]
        if written[0] == 0:
            await self.blobs.delete(key)
            return None
        await self.files.publish_file(
            batch.project_id,
            "batch_output",
            f"{batch.id}_{kind}.jsonl",  # batch_<hex>_output.jsonl, as OpenAI names them
            info.key,
            info.size,
            info.sha256,
            batch.output_expires_after,
            file_id=file_id,
        )
        return file_id

    async def _exists(self, project_id: str, file_id: str) -> bool:
        try:
            await self.files.retrieve_file(project_id, file_id)
        except FileNotFound:
            return False
        return True

    async def _lines(
        self, batch_id: str, ending: str, kind: str, keep_alive: Callable[[], Awaitable[None]]
    ) -> AsyncIterator[bytes]:
        after = 0
        while True:
            page = await self.rows.page(batch_id, after, PAGE_ROWS, completed=kind == "output")
            if not page:
                return
            for line, custom_id, state, outcome, result, attempts in page:
                after = line
                if state == "done":
                    if (outcome == "completed") == (kind == "output") and result is not None:
                        yield result.encode() + b"\n"
                elif kind == "error" and ending in ENDED:
                    if ending == "cancelled" and attempts == 0:
                        continue  # never started: absent from a cancelled batch's files
                    code, message = ENDED[ending]
                    yield unanswered_line(custom_id, code, message).encode() + b"\n"
            await keep_alive()
