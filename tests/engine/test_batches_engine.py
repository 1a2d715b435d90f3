"""Batches against a real engine: llama.cpp's server (Gemma 3 270M) behind a live `filedock serve`,
driven by the official `openai` SDK. A chat batch and an embeddings batch run end to end; each
output body is the engine's own answer (compared with the same request sent to the engine
directly at temperature 0), and the batch's usage is the sum of the engine's token counts."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai.types import Batch

from tests.helpers import TEST_KEY, ServerProcess, make_server
from tests.services import LlmEngine

# The first test to ask for the engine may build its wheel (5-11 minutes on 2 cores).
pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.engine, pytest.mark.timeout(1800)]

# Fields of a chat completion that differ between two identical requests by nature.
PER_RESPONSE = ("id", "created")


@pytest.fixture(scope="module")
def server(
    llm_engine: LlmEngine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    s = make_server(
        tmp_path_factory.mktemp("engine") / "data",
        env={
            "FILEDOCK_ENGINE_URL": llm_engine.base_url,
            "FILEDOCK_BATCH_CONCURRENCY": "4",
            "FILEDOCK_BATCH_POLL_SECONDS": "0.2",
        },
    ).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def sdk(server: ServerProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=server.base_url, api_key=TEST_KEY, max_retries=0) as c:
        yield c


def run_batch(
    sdk: openai.OpenAI, tmp_path: Path, endpoint: str, bodies: dict[str, dict[str, Any]]
) -> tuple[Batch, dict[str, dict[str, Any]]]:
    """Upload the lines, create the batch, poll until it ends; returns it and its output lines."""
    path = tmp_path / "input.jsonl"
    path.write_text(
        "".join(
            json.dumps({"custom_id": cid, "method": "POST", "url": endpoint, "body": body}) + "\n"
            for cid, body in bodies.items()
        )
    )
    with path.open("rb") as fh:
        input_file = sdk.files.create(file=fh, purpose="batch")
    batch = sdk.batches.create(
        input_file_id=input_file.id,
        endpoint=endpoint,  # type: ignore[arg-type]
        completion_window="24h",
    )
    deadline = time.monotonic() + 300
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        assert time.monotonic() < deadline, batch
        time.sleep(0.2)  # polling a live server: there is no event to wait on from outside
        batch = sdk.batches.retrieve(batch.id)
    assert batch.status == "completed", batch
    assert batch.output_file_id is not None
    output = sdk.files.content(batch.output_file_id).text
    lines = [json.loads(line) for line in output.splitlines()]
    return batch, {line["custom_id"]: line for line in lines}


def direct(engine: LlmEngine, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(engine.base_url + endpoint.removeprefix("/v1"), json=body, timeout=120)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_chat_batch_outputs_are_the_engines_answers(
    sdk: openai.OpenAI, llm_engine: LlmEngine, tmp_path: Path
) -> None:
    bodies = {
        f"chat-{i}": {
            "model": llm_engine.model,
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0,
            "max_tokens": 8,
        }
        for i, prompt in enumerate(["Name a colour.", "Count to three.", "Say hello."])
    }
    batch, out = run_batch(sdk, tmp_path, "/v1/chat/completions", bodies)

    assert set(out) == set(bodies)
    assert batch.request_counts is not None
    assert (batch.request_counts.total, batch.request_counts.completed) == (3, 3)
    assert batch.request_counts.failed == 0 and batch.error_file_id is None
    assert batch.model == llm_engine.model
    input_tokens = output_tokens = 0
    for cid, body in bodies.items():
        line = out[cid]
        assert line["id"].startswith("batch_req_") and line["error"] is None
        assert line["response"]["status_code"] == 200
        got = line["response"]["body"]
        expected = direct(llm_engine, "/v1/chat/completions", body)
        assert got["object"] == "chat.completion" and got["choices"][0]["message"]["content"]
        assert set(got) == set(expected)
        assert {k: v for k, v in got.items() if k not in PER_RESPONSE} == {
            k: v for k, v in expected.items() if k not in PER_RESPONSE
        }
        input_tokens += got["usage"]["prompt_tokens"]
        output_tokens += got["usage"]["completion_tokens"]
    assert batch.usage is not None
    assert (batch.usage.input_tokens, batch.usage.output_tokens) == (input_tokens, output_tokens)
    assert batch.usage.total_tokens == input_tokens + output_tokens


def test_embeddings_batch_outputs_are_the_engines_vectors(
    sdk: openai.OpenAI, llm_engine: LlmEngine, tmp_path: Path
) -> None:
    bodies = {
        "emb-a": {"model": llm_engine.model, "input": "The quick brown fox."},
        "emb-b": {"model": llm_engine.model, "input": ["one", "two words"]},
    }
    batch, out = run_batch(sdk, tmp_path, "/v1/embeddings", bodies)

    assert set(out) == set(bodies) and batch.error_file_id is None
    assert batch.request_counts is not None and batch.request_counts.completed == 2
    prompt_tokens = 0
    for cid, body in bodies.items():
        got = out[cid]["response"]["body"]
        expected = direct(llm_engine, "/v1/embeddings", body)
        assert got == expected  # no per-response fields: the whole body is the engine's
        assert [len(d["embedding"]) for d in got["data"]] == [640] * len(got["data"])
        prompt_tokens += got["usage"]["prompt_tokens"]
    assert len(out["emb-b"]["response"]["body"]["data"]) == 2
    assert batch.usage is not None and batch.usage.input_tokens == prompt_tokens
