"""The real engine the batch tests run against: llama.cpp's server started by the test setup
answers chat (deterministically at temperature 0) and embeddings (one vector per input)."""

from __future__ import annotations

import openai
import pytest

from tests.services import LlmEngine

# The first test to ask for the engine may build its wheel (5-11 minutes on 2 cores).
pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.engine, pytest.mark.timeout(1800)]


def test_engine_answers_chat_and_embeddings(llm_engine: LlmEngine) -> None:
    engine = openai.OpenAI(base_url=llm_engine.base_url, api_key="unused")
    ask = {
        "model": llm_engine.model,
        "messages": [{"role": "user", "content": "Name a colour."}],
        "temperature": 0,
        "max_tokens": 6,
    }
    first = engine.chat.completions.create(**ask)  # type: ignore[call-overload]
    second = engine.chat.completions.create(**ask)  # type: ignore[call-overload]
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.usage is not None and 0 < first.usage.completion_tokens <= 6
    vectors = engine.embeddings.create(model=llm_engine.model, input=["one", "two words"])
    assert [len(d.embedding) for d in vectors.data] == [640, 640]
    assert vectors.data[0].embedding != vectors.data[1].embedding
