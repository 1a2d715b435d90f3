"""Fixtures of the Batch API tests: the fault-injecting stub engine and the in-process app."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from filedock.clock import Clock
from filedock.settings import Settings
from filedock.web import create_app
from tests.batches.stub_engine import StubEngine
from tests.helpers import TEST_KEY

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
TERMINAL = ("completed", "failed", "expired", "cancelled")


@pytest.fixture
def stub() -> Iterator[StubEngine]:
    engine = StubEngine().start()
    try:
        yield engine
    finally:
        engine.stop()


def batch_settings(tmp_path: Path, stub: StubEngine, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "api_key": TEST_KEY,
        "sweep_interval_seconds": 3600,
        "engine_url": stub.url,
        "engine_api_key": "engine-secret",
        "batch_poll_seconds": 0.05,
        "batch_retry_base_seconds": 0.01,
        "batch_concurrency": 8,
    }
    values.update(overrides)
    return Settings(**values)


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(tmp_path: Path, stub: StubEngine) -> Iterator[AppFactory]:
    """Build the in-process app against the stub engine (settings overridable, clock injectable)."""
    opened: list[TestClient] = []

    def make(clock: Clock | None = None, **overrides: Any) -> TestClient:
        settings = batch_settings(tmp_path, stub, **overrides)
        client = TestClient(
            create_app(settings, clock=clock), headers=AUTH, raise_server_exceptions=False
        )
        client.__enter__()
        opened.append(client)
        return client

    try:
        yield make
    finally:
        for client in opened:
            client.__exit__(None, None, None)


def request_line(
    custom_id: str,
    *,
    url: str = "/v1/chat/completions",
    model: str = "stub-model",
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "marker": custom_id, **extra}
    if url == "/v1/chat/completions":
        body["messages"] = [{"role": "user", "content": f"say {custom_id}"}]
    elif url == "/v1/embeddings":
        body["input"] = f"text {custom_id}"
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def upload(client: TestClient, content: bytes, name: str = "input.jsonl") -> str:
    response = client.post("/v1/files", files={"file": (name, content)}, data={"purpose": "batch"})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


def create(client: TestClient, file_id: str, **fields: Any) -> dict[str, Any]:
    body = {
        "input_file_id": file_id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        **fields,
    }
    response = client.post("/v1/batches", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_for(
    client: TestClient,
    batch_id: str,
    until: Callable[[dict[str, Any]], bool] = lambda b: b["status"] in TERMINAL,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Poll the batch (through the API) until `until` holds."""
    deadline = time.monotonic() + timeout
    while True:
        batch = client.get(f"/v1/batches/{batch_id}").json()
        if until(batch):
            return dict(batch)
        if time.monotonic() > deadline:
            raise AssertionError(f"batch did not get there in {timeout}s: {batch}")
        time.sleep(0.02)


def file_lines(client: TestClient, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    response = client.get(f"/v1/files/{file_id}/content")
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.content.splitlines()]
