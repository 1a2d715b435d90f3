# GENERATED from src/filedock/client/_async/batches.py by scripts/gen_sync_client.py: do not edit.
"""`client.batches`: the Batch API (create, retrieve, list, cancel) and `wait` for an end."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from filedock.client._sync.concurrency import sleep
from filedock.client.errors import ProcessingTimeout
from filedock.client.types import Batch, BatchList

if TYPE_CHECKING:
    from filedock.client._sync.client import FilesClient


class Batches:
    """`client.batches`, as the official SDK has it, plus `wait`."""

    def __init__(self, client: FilesClient) -> None:
        self._client = client

    def create(
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
        return Batch.from_dict(self._client.request("POST", "/batches", json=body))

    def retrieve(self, batch_id: str) -> Batch:
        return Batch.from_dict(self._client.request("GET", f"/batches/{batch_id}"))

    def list(self, *, limit: int | None = None, after: str | None = None) -> BatchList:
        params = {k: v for k, v in {"limit": limit, "after": after}.items() if v is not None}
        return BatchList.from_dict(self._client.request("GET", "/batches", params=params))

    def list_all(self, *, page_size: int = 100) -> Iterator[Batch]:
        """Every batch, newest first, page after page."""
        after: str | None = None
        while True:
            page = self.list(limit=page_size, after=after)
            for batch in page.data:
                yield batch
            if not page.has_more or not page.data:
                return
            after = page.data[-1].id

    def cancel(self, batch_id: str) -> Batch:
        return Batch.from_dict(
            self._client.request(
                "POST", f"/batches/{batch_id}/cancel", headers={"Content-Type": "application/json"}
            )
        )

    def wait(
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
            batch = self.retrieve(batch_id)
            if on_update is not None:
                on_update(batch)
            if batch.done:
                return batch
            if time.monotonic() - start > max_wait_seconds:
                raise ProcessingTimeout(
                    f"Giving up on waiting for batch {batch_id} after {max_wait_seconds} seconds "
                    f"(status {batch.status})."
                )
            sleep(poll_interval)
