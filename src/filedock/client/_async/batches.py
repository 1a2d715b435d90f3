"""`client.batches`: the Batch API (create, retrieve, list, cancel) and `wait` for an end."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

from filedock.client._async.concurrency import sleep
from filedock.client.errors import ProcessingTimeout
from filedock.client.types import Batch, BatchList

if TYPE_CHECKING:
    from filedock.client._async.client import AsyncFilesClient


class AsyncBatches:
    """`client.batches`, as the official SDK has it, plus `wait`."""

    def __init__(self, client: AsyncFilesClient) -> None:
        self._client = client

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
        params = {k: v for k, v in {"limit": limit, "after": after}.items() if v is not None}
        return BatchList.from_dict(await self._client.request("GET", "/batches", params=params))

    async def list_all(self, *, page_size: int = 100) -> AsyncIterator[Batch]:
        """Every batch, newest first, page after page."""
        after: str | None = None
        while True:
            page = await self.list(limit=page_size, after=after)
            for batch in page.data:
                yield batch
            if not page.has_more or not page.data:
                return
            after = page.data[-1].id

    async def cancel(self, batch_id: str) -> Batch:
        return Batch.from_dict(
            await self._client.request(
                "POST", f"/batches/{batch_id}/cancel", headers={"Content-Type": "application/json"}
            )
        )

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
