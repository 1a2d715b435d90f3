"""The Batch API through the official `openai` SDK (sync and async) against a real
`filedock serve`, and a kill -9 in the middle of a batch: every custom_id exactly once."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.batches.conftest import jsonl, request_line
from tests.batches.stub_engine import Reply, StubEngine
from tests.helpers import TEST_KEY, ServerProcess, make_server

pytestmark = pytest.mark.live

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}


def engine_env(stub: StubEngine, **extra: str) -> dict[str, str]:
    return {
        "FILEDOCK_ENGINE_URL": stub.url,
        "FILEDOCK_BATCH_POLL_SECONDS": "0.1",
        "FILEDOCK_BATCH_RETRY_BASE_SECONDS": "0.05",
        **extra,
    }


@pytest.fixture
def stub() -> Iterator[StubEngine]:
    engine = StubEngine().start()
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture
def server(stub: StubEngine, tmp_path: Path) -> Iterator[ServerProcess]:
    process = make_server(tmp_path / "data", env=engine_env(stub)).start()
    try:
        yield process
    finally:
        process.stop()


def wait_sdk(sdk: openai.OpenAI, batch_id: str, timeout: float = 60) -> openai.types.Batch:
    deadline = time.monotonic() + timeout
    while True:
        batch = sdk.batches.retrieve(batch_id)
        if batch.status in ("completed", "failed", "expired", "cancelled"):
            return batch
        assert time.monotonic() < deadline, batch
        time.sleep(0.1)


def test_official_sdk_sync(server: ServerProcess, stub: StubEngine) -> None:
    ids = [f"sdk-{i}" for i in range(30)]
    with openai.OpenAI(base_url=server.base_url, api_key=TEST_KEY, max_retries=0) as sdk:
        upload = sdk.files.create(
            file=("in.jsonl", io.BytesIO(jsonl([request_line(c) for c in ids]))), purpose="batch"
        )
        created = sdk.batches.create(
            input_file_id=upload.id,
            endpoint="/v1/chat/completions",
            completion_window="24h",
            metadata={"job": "nightly"},
            output_expires_after={"anchor": "created_at", "seconds": 7200},
        )
        assert created.status == "validating" and created.metadata == {"job": "nightly"}
        done = wait_sdk(sdk, created.id)
        assert done.status == "completed" and done.request_counts is not None
        assert (done.request_counts.total, done.request_counts.completed) == (30, 30)
        assert done.usage is not None and done.usage.total_tokens == 30 * 7
        assert done.output_file_id is not None and done.error_file_id is None
        output = sdk.files.retrieve(done.output_file_id)
        assert output.purpose == "batch_output" and output.expires_at == output.created_at + 7200
        lines = [json.loads(x) for x in sdk.files.content(done.output_file_id).text.splitlines()]
        assert [x["custom_id"] for x in lines] == ids
        assert created.id in [b.id for b in sdk.batches.list(limit=1)]  # auto-paginated
        with pytest.raises(openai.NotFoundError):
            sdk.batches.retrieve("batch_00000000000000000000000000000000")
        with pytest.raises(openai.BadRequestError):
            sdk.batches.cancel(created.id)  # completed


def test_official_sdk_async_with_cancel(server: ServerProcess, stub: StubEngine) -> None:
    stub.hold()

    async def scenario() -> openai.types.Batch:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key=TEST_KEY, max_retries=0
        ) as sdk:
            upload = await sdk.files.create(
                file=("in.jsonl", jsonl([request_line(f"c{i}") for i in range(50)])),
                purpose="batch",
            )
            created = await sdk.batches.create(
                input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h"
            )
            for _ in range(1500):  # the engine holds the first requests
                if stub.in_flight:
                    break
                await asyncio.sleep(0.02)
            cancelling = await sdk.batches.cancel(created.id)
            assert cancelling.status == "cancelling"
            listed = [b.id async for b in sdk.batches.list()]
            assert listed[0] == created.id
            stub.release()
            for _ in range(600):
                batch = await sdk.batches.retrieve(created.id)
                if batch.status == "cancelled":
                    break
                await asyncio.sleep(0.05)
            return batch

    try:
        batch = asyncio.run(scenario())
    finally:
        stub.release()
    assert batch.request_counts is not None
    assert batch.request_counts.completed == len(stub.received) < 50
    assert batch.cancelled_at is not None


@pytest.mark.slow
def test_kill_9_mid_batch_resumes_without_repeating_lines(stub: StubEngine, tmp_path: Path) -> None:
    stub.script = lambda request, seen: Reply(delay=0.05)
    concurrency = 4
    env = engine_env(
        stub,
        FILEDOCK_BATCH_CONCURRENCY=str(concurrency),
        FILEDOCK_BATCH_LEASE_SECONDS="2",
    )
    server = make_server(tmp_path / "data", env=env).start()
    ids = [f"k{i}" for i in range(300)]
    try:
        with httpx.Client(base_url=server.base_url, headers=AUTH, timeout=30) as http:
            file_id = http.post(
                "/files",
                files={"file": ("in.jsonl", jsonl([request_line(c) for c in ids]))},
                data={"purpose": "batch"},
            ).json()["id"]
            batch = http.post(
                "/batches",
                json={
                    "input_file_id": file_id,
                    "endpoint": "/v1/chat/completions",
                    "completion_window": "24h",
                },
            ).json()
            deadline = time.monotonic() + 60
            while http.get(f"/batches/{batch['id']}").json()["request_counts"]["completed"] < 60:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        server.kill()  # SIGKILL with requests in flight
        at_crash = len(stub.received)
        server.start()
        with openai.OpenAI(base_url=server.base_url, api_key=TEST_KEY, max_retries=0) as sdk:
            done = wait_sdk(sdk, batch["id"], timeout=120)
            assert done.status == "completed", done
            assert done.output_file_id is not None and done.error_file_id is None
            lines = [
                json.loads(x) for x in sdk.files.content(done.output_file_id).text.splitlines()
            ]
    finally:
        server.stop()
    assert [x["custom_id"] for x in lines] == ids  # every custom_id exactly once, in order
    counts = stub.counts()
    resent = sum(n - 1 for n in counts.values())
    assert set(counts) == set(ids)
    assert resent <= concurrency, (resent, at_crash)  # only requests in flight at the crash
