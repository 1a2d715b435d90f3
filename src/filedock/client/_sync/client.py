# GENERATED from src/filedock/client/_async/client.py by scripts/gen_sync_client.py: do not edit.
"""The client: `client.files`, `client.uploads` and `client.batches` of any OpenAI-compatible
server, on httpx.

Written once, async (file reads and writes in worker threads, so an event loop never blocks on
disk); client/_sync/ is generated from these files by scripts/gen_sync_client.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from filedock.client._common import (
    DEFAULT_CHUNK_THRESHOLD,
    DEFAULT_PARALLEL_PARTS,
    DEFAULT_PART_RETRIES,
    DEFAULT_PART_SIZE,
    ClientConfig,
)
from filedock.client._sync.batches import Batches
from filedock.client._sync.files import Files
from filedock.client._sync.uploads import Uploads
from filedock.client.errors import (
    APIConnectionError,
    error_from_response,
)


class FilesClient:
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
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = ClientConfig.resolve(
            base_url,
            api_key,
            chunk_threshold=chunk_threshold,
            part_size=part_size,
            max_parallel_parts=max_parallel_parts,
            part_retries=part_retries,
        )
        self._http = httpx.Client(
            base_url=self.config.base_url,
            headers=self.config.headers(),
            timeout=httpx.Timeout(timeout, connect=10.0),
            transport=transport,
            limits=httpx.Limits(max_connections=max(10, max_parallel_parts + 2)),
        )
        self.files = Files(self)
        self.uploads = Uploads(self)
        self.batches = Batches(self)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> FilesClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
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
            response = self._http.request(
                method, path, json=json, params=params, content=content, headers=headers
            )
        except httpx.TransportError as exc:
            raise APIConnectionError(f"{method} {path}: {exc}") from exc
        if response.status_code >= 400:
            raise error_from_response(response, response.content)
        return response.json()

    @contextlib.contextmanager
    def stream(
        self, method: str, path: str, headers: Mapping[str, str]
    ) -> Iterator[httpx.Response]:
        try:
            with self._http.stream(method, path, headers=headers) as response:
                if response.status_code >= 400:
                    raise error_from_response(response, response.read())
                yield response
        except httpx.TransportError as exc:
            raise APIConnectionError(f"{method} {path}: {exc}") from exc
