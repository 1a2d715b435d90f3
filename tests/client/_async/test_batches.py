"""The client's Batch API against a live `filedock serve` running batches on the stub engine (a
stub: it holds answers so a batch can be cancelled while it runs); tests/client/_sync/ is
generated."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from filedock.client import AsyncFilesClient, Batch, NotFoundError
from tests.batches.conftest import jsonl, request_line
from tests.batches.stub_engine import StubEngine
from tests.helpers import TEST_KEY, ServerProcess, batch_server

pytestmark = [pytest.mark.live, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def stub() -> Iterator[StubEngine]:
    engine = StubEngine().start()
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def server(stub: StubEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with batch_server(tmp_path_factory.mktemp("client-batches") / "data", stub.url) as s:
        yield s


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[AsyncFilesClient]:
    async with AsyncFilesClient(server.base_url, TEST_KEY) as c:
        yield c


async def _input(client: AsyncFilesClient, tmp_path: Path, n: int) -> str:
    src = tmp_path / "in.jsonl"
    src.write_bytes(jsonl([request_line(f"k{i}") for i in range(n)]))
    return (await client.files.create(file=src, purpose="batch")).id


async def test_create_wait_list_and_results(client: AsyncFilesClient, tmp_path: Path) -> None:
    file_id = await _input(client, tmp_path, 3)
    created = await client.batches.create(
        input_file_id=file_id,
        endpoint="/v1/chat/completions",
        metadata={"k": "v"},
        output_expires_after={"seconds": 3600},
    )
    assert created.status == "validating" and created.metadata == {"k": "v"}
    assert list(created.to_dict())[:3] == ["id", "object", "endpoint"]
    seen: list[Batch] = []
    done = await client.batches.wait(created.id, poll_interval=0.05, on_update=seen.append)
    assert done.done and done.status == "completed" and seen[-1] == done
    assert (done.request_counts.total, done.request_counts.completed) == (3, 3)
    assert done.usage is not None and done.usage["total_tokens"] == 21  # the stub's 7 per line
    assert done.output_file_id is not None and done.error_file_id is None
    output = await client.files.content(done.output_file_id)
    assert output.count(b'"custom_id"') == 3
    assert (await client.files.retrieve(done.output_file_id)).expires_at is not None

    page = await client.batches.list(limit=1)
    assert [b.id for b in page.data] == [created.id] and page.first_id == created.id
    every = [b.id async for b in client.batches.list_all(page_size=1)]
    assert created.id in every and len(every) == len(set(every))
    assert (await client.batches.retrieve(created.id)).raw == done.raw


async def test_cancel_and_missing(
    client: AsyncFilesClient, stub: StubEngine, tmp_path: Path
) -> None:
    file_id = await _input(client, tmp_path, 4)
    stub.hold()
    try:
        created = await client.batches.create(
            input_file_id=file_id, endpoint="/v1/chat/completions"
        )
        cancelling = await client.batches.cancel(created.id)
        assert cancelling.status in ("cancelling", "cancelled")
    finally:
        stub.release()
    final = await client.batches.wait(created.id, poll_interval=0.05)
    assert final.status == "cancelled"
    with pytest.raises(NotFoundError):
        await client.batches.retrieve("batch_" + "0" * 32)
