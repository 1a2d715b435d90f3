"""batch samples: a valid file for every endpoint, and every error class on its line."""

from __future__ import annotations

import json
from typing import Any

from tests.validation.corpus_kit import jsonl, write

BODIES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
    },
    "/v1/completions": {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 5},
    "/v1/embeddings": {"model": "text-embedding-3-small", "input": "hello"},
    "/v1/responses": {"model": "gpt-4.1-mini", "input": "Tell me a joke."},
    "/v1/moderations": {"model": "omni-moderation-latest", "input": "I like kittens."},
    "/v1/images/generations": {"model": "gpt-image-1", "prompt": "A red apple"},
    "/v1/images/edits": {
        "model": "gpt-image-1",
        "prompt": "Make it green",
        "image": [{"image_url": "https://example.com/apple.png"}],
    },
    "/v1/videos": {"model": "sora-2", "prompt": "A red apple rolling on a table"},
}


def req(i: int, url: str = "/v1/chat/completions", **over: Any) -> dict[str, Any]:
    body = dict(BODIES.get(url, BODIES["/v1/chat/completions"]))
    row = {"custom_id": f"req-{i}", "method": "POST", "url": url, "body": body}
    row.update(over)
    return row


def batch() -> None:
    seed = (
        '{"custom_id": "request-1", "method": "POST", "url": "/v1/chat/completions", "body": '
        '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]}}\n'
        '{"custom_id": "request-2", "method": "POST", "url": "/v1/chat/completions", "body": '
        '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "How are you?"}]}}\n'
    )
    write("batch", "seed_sample.jsonl", seed.encode(), {"verdict": "valid"})
    write(
        "batch",
        "valid.jsonl",
        jsonl([req(i) for i in range(5)]),
        {"verdict": "valid", "stats": {"lines": 5, "requests": 5}},
    )
    for url in BODIES:
        rows = [req(i, url) for i in range(4)]
        stats: dict[str, Any] = {"requests": 4, "url": url, "model": BODIES[url]["model"]}
        if url == "/v1/embeddings":
            rows[1]["body"]["input"] = ["one", "two", "three"]
            rows[2]["body"]["input"] = [1734, 374, 264]  # token ids: one input
            rows[3]["body"]["input"] = [[1734, 374], [264]]
            stats["embedding_inputs"] = 1 + 3 + 1 + 2
        if url == "/v1/responses":
            rows[1]["body"]["input"] = [{"role": "user", "content": "Hello"}]
        name = "valid_" + url.removeprefix("/v1/").replace("/", "_") + ".jsonl"
        write("batch", name, jsonl(rows), {"verdict": "valid", "stats": stats})
    # The moderation endpoint has a default model: a missing one is only a warning there.
    rows = [req(i, "/v1/moderations") for i in range(2)]
    for row in rows:
        del row["body"]["model"]
    write(
        "batch",
        "moderations_default_model.jsonl",
        jsonl(rows),
        {"verdict": "valid", "warnings": [[1, "missing_model"], [2, "missing_model"]]},
    )

    rows: list[Any] = [req(i) for i in range(9)]
    rows[2] = req(0)
    rows[3] = req(3, url="/v1/embeddings", body=dict(BODIES["/v1/chat/completions"]))
    rows[4] = req(4, body={"model": "gpt-4o"})
    rows[5] = req(5, method="GET")
    rows[6] = '{"custom_id": "req-6", "method": "POST",'
    rows[7] = req(7, body="hello")
    rows[8] = req(8, url="/v1/unknown")
    write(
        "batch",
        "errors.jsonl",
        jsonl(rows),
        {
            "verdict": "invalid",
            "errors": [
                [3, "duplicate_custom_id"],
                [4, "url_mismatch"],
                [5, "model_mismatch"],
                [5, "missing_body_field"],
                [6, "invalid_method"],
                [7, "invalid_json_line"],
                [8, "invalid_body"],
                [9, "invalid_url"],
            ],
            "stats": {"requests": 2, "invalid_requests": 7},
        },
    )
    write(
        "batch",
        "custom_id_not_string.jsonl",
        jsonl([req(0), req(1, custom_id=7), req(2)]),
        {"verdict": "invalid", "errors": [[2, "invalid_custom_id"]]},
    )
    missing = [req(0), {"custom_id": "req-1", "method": "POST", "url": "/v1/chat/completions"}]
    write(
        "batch",
        "missing_body.jsonl",
        jsonl(missing),
        {"verdict": "invalid", "errors": [[2, "missing_field"]]},
    )
    for line in (1, 3):
        rows = [req(i) for i in range(5)]
        del rows[line - 1]["body"]["model"]
        write(
            "batch",
            f"missing_model_line_{line}.jsonl",
            jsonl(rows),
            {"verdict": "invalid", "errors": [[line, "missing_model"]]},
        )
    rows = [req(i) for i in range(4)]
    del rows[1]["body"]["messages"]
    write(
        "batch",
        "missing_messages.jsonl",
        jsonl(rows),
        {"verdict": "invalid", "errors": [[2, "missing_body_field"]]},
    )
    raw = [json.dumps(req(i)).encode() for i in range(5)]
    raw[2] = raw[2].replace(b'"hi"', b'"h\xffi"')
    write(
        "batch",
        "body_not_utf8.jsonl",
        b"\n".join(raw) + b"\n",
        {"verdict": "invalid", "errors": [[3, "invalid_encoding"]]},
    )
    write(
        "batch",
        "json_array.jsonl",
        json.dumps([req(i) for i in range(5)], indent=2).encode(),
        {"verdict": "invalid", "errors": [[1, "not_jsonl"]]},
    )
    write("batch", "empty.jsonl", b"", {"verdict": "invalid", "errors": [[None, "empty_file"]]})
    write(
        "batch",
        "blank_lines_only.jsonl",
        b"\n\r\n  \n",
        {
            "verdict": "invalid",
            "errors": [[None, "empty_file"]],
            "warnings": [[1, "blank_line"], [2, "blank_line"], [3, "blank_line"]],
        },
    )
