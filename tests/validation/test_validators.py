"""Validator rules not covered by the corpus: limits, long lines, tokens, status_details."""

from __future__ import annotations

import base64
import json

from filedock.validation import ValidationOptions, validate, validate_batch
from filedock.validation.report import Report
from filedock.validation.tokens import count_tokens, encoding

SENTENCE = "Hello world! The OpenAI Files API stores JSONL files for fine-tuning and batch jobs."


def chat(content: str = "hi") -> str:
    return json.dumps(
        {"messages": [{"role": "user", "content": content}, {"role": "assistant", "content": "ok"}]}
    )


def test_shipped_encodings_count_the_reference_sentence() -> None:
    assert count_tokens(SENTENCE, "o200k_base") == 20
    assert count_tokens(SENTENCE, "cl100k_base") == 20
    # Special-token text in user data is ordinary text, never an error.
    assert count_tokens("<|endoftext|>") > 1
    assert encoding("o200k_base").name == "o200k_base"


def test_too_many_tasks_reported_at_the_first_line_over_the_limit() -> None:
    rows = [
        json.dumps(
            {
                "custom_id": f"r{i}",
                "method": "POST",
                "url": "/v1/embeddings",
                "body": {"model": "m", "input": "x"},
            }
        )
        for i in range(5)
    ]
    report = validate(
        "batch", "b.jsonl", ["\n".join(rows).encode()], ValidationOptions(batch_max_tasks=3)
    )
    assert [(e.line, e.code) for e in report.errors] == [(4, "too_many_tasks")]


def test_over_long_line_is_an_error_and_the_next_line_is_still_checked() -> None:
    options = ValidationOptions(max_line_bytes=1000, min_examples=2)
    long_line = chat("x" * 5000)
    data = f"{chat()}\n{long_line}\n{chat()}\n{{bad\n".encode()
    chunks = [data[i : i + 64] for i in range(0, len(data), 64)]
    report = validate("fine-tune", "f.jsonl", chunks, options)
    assert [(e.line, e.code) for e in report.errors] == [
        (2, "line_too_long"),
        (4, "invalid_json_line"),
    ]
    assert report.stats["lines"] == 4


def test_token_statistics_and_context_warning() -> None:
    rows = [chat("word " * n) for n in (1, 10, 100)]
    report = validate(
        "fine-tune",
        "f.jsonl",
        ["\n".join(rows).encode()],
        ValidationOptions(min_examples=1, context_tokens=50),
    )
    stats = report.stats
    low, high = stats["tokens_per_example"]["min"], stats["tokens_per_example"]["max"]
    assert low < high and stats["total_tokens"] >= low + high
    assert [(w.line, w.code) for w in report.warnings] == [(3, "example_too_long")]
    assert report.valid


def test_assistants_stops_counting_once_the_limit_is_passed() -> None:
    text = (SENTENCE + "\n") * 20000  # about 400,000 tokens
    chunks = [text.encode()[i : i + 65536] for i in range(0, len(text), 65536)]
    fed = 0

    def counting() -> object:
        nonlocal fed
        for chunk in chunks:
            fed += 1
            yield chunk

    report = validate(
        "assistants", "big.txt", counting(), ValidationOptions(assistants_max_tokens=1000)
    )  # type: ignore[arg-type]
    assert [e.code for e in report.errors] == ["too_many_tokens"]
    assert fed < len(chunks) // 4


def test_status_details_summarises_three_errors_and_counts_the_rest() -> None:
    report = Report("fine-tune")
    for line in range(1, 6):
        report.error(
            "invalid_json_line", "invalid JSON (Expecting ',' delimiter at column 79)", line
        )
    assert report.status_details() == (
        "Invalid file format. Line 1: invalid JSON (Expecting ',' delimiter at column 79). "
        "Line 2: invalid JSON (Expecting ',' delimiter at column 79). "
        "Line 3: invalid JSON (Expecting ',' delimiter at column 79). 2 more errors."
    )


def test_errors_are_capped_but_counted() -> None:
    data = b"{bad\n" * 50
    report = validate("evals", "e.jsonl", [data], ValidationOptions(max_issues=5))
    assert len(report.errors) == 5 and report.error_count == 50
    assert Report.from_json(report.to_json()).to_json() == report.to_json()


def test_deeply_nested_json_is_a_line_error_not_a_crash() -> None:
    deep = b'{"item":' * 100_000 + b"1" + b"}" * 100_000
    report = validate("evals", "e.jsonl", [deep + b'\n{"item": {}}\n'])
    assert [(e.line, e.code) for e in report.errors] == [(1, "invalid_json_line")]


def _png(size: tuple[int, int] = (64, 64)) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.effect_noise(size, 64).convert("RGB").save(out, "PNG")  # noise: does not compress
    return out.getvalue()


def test_images_over_the_size_limit_are_refused() -> None:
    png = _png()
    options = ValidationOptions(image_max_bytes=len(png) - 1, min_examples=1)
    report = validate("vision", "a.png", [png[:100], png[100:]], options)
    assert [(e.line, e.code) for e in report.errors] == [(None, "image_too_large")]
    assert validate("vision", "a.png", [png], ValidationOptions(image_max_bytes=len(png))).valid

    url = "data:image/png;base64," + base64.b64encode(png).decode()
    example = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]},
            {"role": "assistant", "content": "Noise."},
        ]
    }
    data = (chat() + "\n" + json.dumps(example) + "\n").encode()
    report = validate("fine-tune", "f.jsonl", [data], options)
    assert [(e.line, e.code, e.path) for e in report.errors] == [
        (2, "image_too_large", "messages[0].content[0].image_url.url")
    ]


def test_examples_with_images_are_limited_per_file() -> None:
    url = "data:image/png;base64," + base64.b64encode(_png((8, 8))).decode()
    example = json.dumps(
        {
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]},
                {"role": "assistant", "content": "Noise."},
            ]
        }
    )
    data = "\n".join([chat(), example, example, chat(), example]).encode()
    report = validate("fine-tune", "f.jsonl", [data], ValidationOptions(image_examples=2))
    assert [(e.line, e.code) for e in report.errors] == [(5, "too_many_image_examples")]
    assert report.stats["examples_with_images"] == 3


def _request(i: int, url: str, body: dict[str, object]) -> bytes:
    line = {"custom_id": f"r{i}", "method": "POST", "url": url, "body": body}
    return json.dumps(line).encode() + b"\n"


def test_embedding_inputs_are_counted_across_the_file() -> None:
    lines = [_request(i, "/v1/embeddings", {"model": "m", "input": ["a", "b"]}) for i in range(4)]
    options = ValidationOptions(batch_max_embedding_inputs=5)
    report = validate("batch", "b.jsonl", [b"".join(lines)], options)
    assert [(e.line, e.code) for e in report.errors] == [(3, "too_many_embedding_inputs")]
    assert report.stats["embedding_inputs"] == 8


def test_batch_validator_is_reusable_line_by_line() -> None:
    """The Batch API feeds the validator whole lines and reads url, model and line numbers."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    lines = [_request(i, "/v1/chat/completions", body) for i in range(3)]
    lines.append(_request(3, "/v1/chat/completions", {"messages": body["messages"]}))
    report = validate_batch(lines)
    assert [(e.line, e.code, e.path) for e in report.errors] == [(4, "missing_model", "body.model")]
    assert report.stats["url"] == "/v1/chat/completions"
    assert report.stats["model"] == "gpt-4o-mini"
    assert report.stats["requests"] == 3 and report.stats["invalid_requests"] == 1


def test_waiting_lines_are_judged_once_the_format_is_known_and_counted_exactly() -> None:
    prompt = json.dumps({"messages": [{"role": "user", "content": "u"}]})
    data = "\n".join([prompt] * 5 + [chat(), "{bad"]).encode()
    report = validate("fine-tune", "f.jsonl", [data], ValidationOptions(max_issues=3))
    assert report.format == "chat"
    assert report.error_count == 6
    assert [(e.line, e.code) for e in report.errors] == [
        (1, "no_assistant_message"),
        (2, "no_assistant_message"),
        (3, "no_assistant_message"),
    ]
    assert report.stats["examples"] == 1 and report.stats["invalid_examples"] == 6
    # The summary follows line order even though lines 1-5 were judged after line 6.
    details = report.status_details()
    assert details is not None and details.startswith("Invalid file format. Line 1: ")
