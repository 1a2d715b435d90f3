"""Hypothesis: valid records pass whatever their content and chunking; a corruption at line N is
reported at line N (and nowhere else)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from filedock.validation import ValidationOptions, validate

OPTIONS = ValidationOptions(min_examples=1)
text = st.text(max_size=40)
filled = st.text(min_size=1, max_size=40)  # user and assistant content may not be empty
role_text = st.sampled_from(["system", "developer", "user"])


@st.composite
def chat_example(draw: st.DrawFn) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append(
            {"role": draw(st.sampled_from(["system", "developer"])), "content": draw(text)}
        )
    for _ in range(draw(st.integers(1, 3))):
        user: dict[str, Any] = {"role": "user", "content": draw(filled)}
        if draw(st.booleans()):
            user["content"] = [
                {"type": "text", "text": draw(filled)},
                {"type": "image_url", "image_url": {"url": "https://example.com/x.png"}},
            ]
        messages.append(user)
        assistant: dict[str, Any] = {"role": "assistant", "content": draw(filled)}
        if draw(st.booleans()):
            assistant["weight"] = draw(st.sampled_from([0, 1]))
        messages.append(assistant)
    return {"messages": messages}


@st.composite
def batch_file(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 12))
    ids = draw(st.lists(st.text(min_size=1, max_size=12), min_size=n, max_size=n, unique=True))
    url = draw(st.sampled_from(["/v1/chat/completions", "/v1/embeddings", "/v1/responses"]))
    model = draw(st.text(min_size=1, max_size=10))
    field = "messages" if url == "/v1/chat/completions" else "input"
    return [
        {
            "custom_id": i,
            "method": "POST",
            "url": url,
            "body": {"model": model, field: draw(text)},
        }
        for i in ids
    ]


def encode(rows: list[Any], newline: str) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + newline for r in rows).encode()


def chunked(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    start = 0
    for size in sizes:
        yield data[start : start + size]
        start += size
    yield data[start:]


chunk_sizes = st.lists(st.integers(1, 300), max_size=20)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(
    st.lists(chat_example(), min_size=1, max_size=12), st.sampled_from(["\n", "\r\n"]), chunk_sizes
)
def test_valid_chat_examples_pass(rows: list[Any], newline: str, sizes: list[int]) -> None:
    report = validate("fine-tune", "x.jsonl", chunked(encode(rows, newline), sizes), OPTIONS)
    assert report.valid, report.to_json()
    assert report.stats["examples"] == len(rows)
    assert report.stats["lines"] == len(rows)


@SETTINGS
@given(batch_file(), chunk_sizes)
def test_valid_batch_files_pass(rows: list[Any], sizes: list[int]) -> None:
    report = validate("batch", "x.jsonl", chunked(encode(rows, "\n"), sizes))
    assert report.valid, report.to_json()
    assert report.stats["requests"] == len(rows)


def _set_weight(line: str, weight: object) -> str:
    example = json.loads(line)
    next(m for m in example["messages"] if m["role"] == "assistant")["weight"] = weight
    return json.dumps(example, ensure_ascii=False)


CORRUPTIONS = {
    "truncated": lambda line: line[: len(line) // 2],
    "role": lambda line: line.replace('"role": "assistant"', '"role": "bot"', 1),
    "weight": lambda line: _set_weight(line, 2),
    "not_utf8": lambda line: "\udcff" + line,
    "array": lambda line: "[" + line + "]",
}
EXPECTED_CODE = {
    "truncated": "invalid_json_line",
    "role": "unrecognized_role",
    "weight": "invalid_weight",
    "not_utf8": "invalid_encoding",
    "array": "invalid_json_line",  # not_jsonl when it is the first line
}


@SETTINGS
@given(
    st.lists(chat_example(), min_size=2, max_size=12),
    st.data(),
    st.sampled_from(sorted(CORRUPTIONS)),
    chunk_sizes,
)
def test_corruption_at_line_n_is_reported_at_line_n(
    rows: list[Any], data: st.DataObject, kind: str, sizes: list[int]
) -> None:
    n = data.draw(st.integers(1, len(rows)), label="corrupted line")
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    lines[n - 1] = CORRUPTIONS[kind](lines[n - 1])
    raw = "\n".join(lines).encode("utf-8", "surrogateescape") + b"\n"
    report = validate("fine-tune", "x.jsonl", chunked(raw, sizes), OPTIONS)
    assert not report.valid
    assert {e.line for e in report.errors} == {n}, report.to_json()
    codes = {e.code for e in report.errors}
    assert EXPECTED_CODE[kind] in codes or (kind == "array" and n == 1 and "not_jsonl" in codes)


@SETTINGS
@given(batch_file(), st.data(), chunk_sizes)
def test_batch_duplicate_at_line_n(rows: list[Any], data: st.DataObject, sizes: list[int]) -> None:
    n = data.draw(st.integers(1, len(rows)))
    dup = data.draw(st.integers(1, len(rows)))
    rows = [*rows[: n - 1], dict(rows[dup - 1]), *rows[n - 1 :]]
    report = validate("batch", "x.jsonl", chunked(encode(rows, "\n"), sizes))
    line = max(n, dup + (1 if dup >= n else 0))
    assert [(e.line, e.code) for e in report.errors] == [(line, "duplicate_custom_id")]


@SETTINGS
@given(st.text(max_size=300), chunk_sizes)
def test_assistants_text_tokens_do_not_depend_on_chunking(body: str, sizes: list[int]) -> None:
    data = body.encode()
    whole = validate("assistants", "a.txt", [data])
    split = validate("assistants", "a.txt", chunked(data, sizes))
    assert whole.valid and split.valid
    assert whole.stats == split.stats


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
# Shapes near the real ones, with any value in any place: the slow paths see every type.
keys = st.sampled_from(
    [
        "messages",
        "role",
        "content",
        "name",
        "weight",
        "tool_calls",
        "tool_call_id",
        "function_call",
        "functions",
        "tools",
        "type",
        "text",
        "image_url",
        "url",
        "detail",
        "input",
        "preferred_output",
        "prompt",
        "completion",
        "custom_id",
        "method",
        "body",
        "model",
        "item",
        "sample",
    ]
)
near_shapes = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=8)
    | st.sampled_from(
        ["user", "assistant", "tool", "function", "text", "image_url", "POST", "/v1/embeddings"]
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=20,
)


@SETTINGS
@given(
    st.sampled_from(["fine-tune", "batch", "evals"]),
    st.lists(json_values | near_shapes, min_size=1, max_size=6),
)
def test_any_json_line_gets_a_verdict_not_a_crash(purpose: str, rows: list[Any]) -> None:
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    report = validate(purpose, "x.jsonl", [data], OPTIONS)
    assert all(e.line is None or 1 <= e.line <= len(rows) for e in report.errors)
    assert report.valid == (report.error_count == 0)
