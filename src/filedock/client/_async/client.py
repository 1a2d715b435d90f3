"""The client: `client.files`, `client.uploads` and `client.batches` of any OpenAI-compatible
server, on httpx.

Written once, async (file reads and writes in worker threads, so an event loop never blocks on
disk); client/_sync/ is generated from these files at build time (scripts/gen_sync_client.py).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import httpx

from filedock.client._async.concurrency import sleep
from filedock.client._async.files import AsyncAPIResource, AsyncFiles, AsyncUploads
from filedock.client._common import (
    DEFAULT_CHUNK_THRESHOLD,
    DEFAULT_PARALLEL_PARTS,
    DEFAULT_PART_RETRIES,
    DEFAULT_PART_SIZE,
    ClientConfig,
)
from filedock.client.errors import APIConnectionError, ProcessingTimeout, error_from_response
from filedock.client.types import Batch, BatchList


class AsyncFilesClient:
    """A client for any OpenAI-compatible Files API (filedock or api.openai.com).

    `base_url` and `api_key` default to OPENAI_BASE_URL and OPENAI_API_KEY. Files of at least
    `chunk_threshold` bytes go through the Uploads API in parts of `part_size` bytes, up to
    `max_parallel_parts` at a time, each retried up to `part_retries` times on its own.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 120.0,
        chunk_threshold: int = DEFAULT_CHUNK_THRESHOLD,
        part_size: int = DEFAULT_PART_SIZE,
        max_parallel_parts: int = DEFAULT_PARALLEL_PARTS,
        part_retries: int = DEFAULT_PART_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = ClientConfig.resolve(
            base_url,
            api_key,
            chunk_threshold=chunk_threshold,
            part_size=part_size,
            max_parallel_parts=max_parallel_parts,
            part_retries=part_retries,
        )
        self._http = httpx.AsyncClient(
            base_url=self.config.base_url,
            headers=self.config.headers(),
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
            limits=httpx.Limits(max_connections=max(10, max_parallel_parts + 2)),
        )
        self.files = AsyncFiles(self)
        self.uploads = AsyncUploads(self)
        self.batches = AsyncBatches(self)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncFilesClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        content: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request; return the parsed JSON body or raise a typed error."""
        try:
            response = await self._http.request(
                method, path, json=json, params=params, content=content, headers=headers
            )
        except httpx.TransportError as exc:
            raise APIConnectionError(f"{method} {path}: {exc}") from exc
        if response.status_code >= 400:
            raise error_from_response(response, response.content)
        return response.json()

    async def list_page(self, path: str, **params: Any) -> Any:
        """One page of a listing, with the query parameters that are set."""
        query = {name: value for name, value in params.items() if value is not None}
        return await self.request("GET", path, params=query)

    async def list_every(self, path: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        """Every object of a listing, following `after` while `has_more`."""
        while True:
            page = await self.list_page(path, **params)
            data: list[dict[str, Any]] = page.get("data") or []
            for item in data:
                yield item
            if not page.get("has_more", False) or not data:
                return
            params["after"] = data[-1]["id"]

    async def action(self, path: str) -> Any:
        """POST with no body (cancel): the JSON content type, as the official SDK sends it."""
        return await self.request("POST", path, headers={"Content-Type": "application/json"})

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, path: str, headers: Mapping[str, str]
    ) -> AsyncIterator[httpx.Response]:
        try:
            async with self._http.stream(method, path, headers=headers) as response:
                if response.status_code >= 400:
                    raise error_from_response(response, await response.aread())
                yield response
        except httpx.TransportError as exc:
            raise APIConnectionError(f"{method} {path}: {exc}") from exc


class AsyncBatches(AsyncAPIResource):
    """`client.batches`, as the official SDK has it, plus `wait`."""

    async def create(
        self,
        *,
        input_file_id: str,
        endpoint: str,
        completion_window: str = "24h",
        metadata: Mapping[str, str] | None = None,
        output_expires_after: Mapping[str, Any] | None = None,
    ) -> Batch:
        body: dict[str, Any] = {
            "input_file_id": input_file_id,
            "endpoint": endpoint,
            "completion_window": completion_window,
        }
        if metadata is not None:
            body["metadata"] = dict(metadata)
        if output_expires_after is not None:
            body["output_expires_after"] = {
                "anchor": output_expires_after.get("anchor", "created_at"),
                "seconds": int(output_expires_after["seconds"]),
            }
        return Batch.from_dict(await self._client.request("POST", "/batches", json=body))

    async def retrieve(self, batch_id: str) -> Batch:
        return Batch.from_dict(await self._client.request("GET", f"/batches/{batch_id}"))

    async def list(self, *, limit: int | None = None, after: str | None = None) -> BatchList:
        return BatchList.from_dict(
            await self._client.list_page("/batches", limit=limit, after=after)
        )

    async def list_all(self, *, page_size: int = 100) -> AsyncIterator[Batch]:
        """Every batch, newest first, page after page."""
        async for data in self._client.list_every("/batches", limit=page_size):
            yield Batch.from_dict(data)

    async def cancel(self, batch_id: str) -> Batch:
        return Batch.from_dict(await self._client.action(f"/batches/{batch_id}/cancel"))

    async def wait(
        self,
        batch_id: str,
        *,
        poll_interval: float = 2.0,
        max_wait_seconds: float = 24 * 3600,
        on_update: Callable[[Batch], None] | None = None,
    ) -> Batch:
        """Poll until the batch is completed, failed, expired or cancelled; `on_update` sees
        every state polled (request_counts move while it runs)."""
        start = time.monotonic()
        while True:
            batch = await self.retrieve(batch_id)
            if on_update is not None:
                on_update(batch)
            if batch.done:
                return batch
            if time.monotonic() - start > max_wait_seconds:
                raise ProcessingTimeout(
                    f"Giving up on waiting for batch {batch_id} after {max_wait_seconds} seconds "
                    f"(status {batch.status})."
                )
            await sleep(poll_interval)
