"""A batch's input: invalid files fail with each bad line's number; odd but valid files run."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from filedock.services.batch_input import LineSplitter
from tests.batches.conftest import (
    AppFactory,
    create,
    file_lines,
    jsonl,
    request_line,
    upload,
    wait_for,
)
from tests.batches.stub_engine import StubEngine


def failed_with(client: Any, content: bytes, **fields: Any) -> list[dict[str, Any]]:
    batch = create(client, upload(client, content), **fields)
    assert batch["status"] == "validating"  # answered at once, even for a bad input
    done = wait_for(client, batch["id"])
    assert done["status"] == "failed", done
    assert done["failed_at"] is not None and done["in_progress_at"] is None
    assert done["output_file_id"] is None and done["error_file_id"] is None
    assert done["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
    assert done["errors"]["object"] == "list"
    return list(done["errors"]["data"])


def test_bad_lines_fail_the_batch_with_their_line_numbers(
    make_client: AppFactory, stub: StubEngine
) -> None:
    client = make_client()
    lines = jsonl([request_line("a"), request_line("b")]) + b'{"custom_id": "c", oops\n'
    lines += jsonl([request_line("d", url="/v1/embeddings"), request_line("a")])
    errors = failed_with(client, lines)
    found = {(e["line"], e["code"]) for e in errors}
    assert (3, "invalid_json_line") in found
    assert (4, "url_mismatch") in found  # the line's url is not the batch's endpoint
    assert (5, "duplicate_custom_id") in found
    assert all(set(e) == {"code", "message", "param", "line"} for e in errors)
    assert [e["line"] for e in errors] == sorted(e["line"] for e in errors)
    assert stub.received == []  # nothing of an invalid batch is sent


def test_every_line_with_another_url_than_the_endpoint_is_named(make_client: AppFactory) -> None:
    client = make_client()
    content = jsonl([request_line(f"e{i}", url="/v1/embeddings") for i in range(3)])
    errors = failed_with(client, content, endpoint="/v1/chat/completions")
    assert [(e["line"], e["code"], e["param"]) for e in errors] == [
        (n, "url_mismatch", "url") for n in (1, 2, 3)
    ]


def test_a_model_no_engine_serves_is_model_not_found(make_client: AppFactory) -> None:
    client = make_client()
    errors = failed_with(client, b"\n" + jsonl([request_line("a", model="gpt-nope")]))
    assert [(e["code"], e["line"], e["param"]) for e in errors] == [
        ("model_not_found", 2, "body.model")
    ]


def test_too_many_requests(make_client: AppFactory) -> None:
    client = make_client(batch_max_requests=3)
    errors = failed_with(client, jsonl([request_line(f"r{i}") for i in range(5)]))
    assert [(e["code"], e["line"]) for e in errors] == [("too_many_tasks", 4)]


def test_an_input_larger_than_the_limit(
    make_client: AppFactory, tmp_path: Path, stub: StubEngine
) -> None:
    content = jsonl([request_line(f"r{i}") for i in range(40)])
    first = make_client()
    file_id = upload(first, content)
    first.__exit__(None, None, None)
    client = make_client(batch_max_bytes=1000)  # the same data, a lower limit since the upload
    batch = create(client, file_id)
    done = wait_for(client, batch["id"])
    assert done["status"] == "failed"
    assert [e["code"] for e in done["errors"]["data"]] == ["file_too_large"]


def test_bom_crlf_and_blank_lines_run_with_the_right_bodies(
    make_client: AppFactory, stub: StubEngine
) -> None:
    client = make_client()
    content = (
        b"\xef\xbb\xbf"
        + json.dumps(request_line("one")).encode()
        + b"\r\n\r\n"
        + json.dumps(request_line("two", temperature=0.5)).encode()
        + b"\n\n"
        + json.dumps(request_line("three")).encode()  # no final newline
    )
    done = wait_for(client, create(client, upload(client, content))["id"])
    assert done["status"] == "completed", done
    assert [line["custom_id"] for line in file_lines(client, done["output_file_id"])] == [
        "one",
        "two",
        "three",
    ]
    sent = {r.marker: r.body for r in stub.received}
    assert sent["two"] == request_line("two", temperature=0.5)["body"]  # passed through as is


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(st.text(min_size=1, max_size=20), st.sampled_from([b"\n", b"\r\n", b"\n\n"])),
        min_size=1,
        max_size=30,
    ),
    st.integers(min_value=1, max_value=64),
    st.booleans(),
)
def test_the_splitter_finds_every_request_at_its_offset(
    items: list[tuple[str, bytes]], chunk: int, bom: bool
) -> None:
    data = b"\xef\xbb\xbf" if bom else b""
    expected: list[tuple[int, str, bytes]] = []
    line = 0
    for custom_id, end in items:
        raw = json.dumps({"custom_id": custom_id, "url": "/v1/embeddings", "body": {}}).encode()
        line += 1
        expected.append((line, custom_id, raw))
        data += raw + end
        line += end.count(b"\n") - 1
    splitter = LineSplitter("batch_x", "/v1/embeddings", 1 << 20, 100)
    found = []
    rng = random.Random(chunk)
    at = 0
    while at < len(data):
        size = rng.randint(1, chunk)
        found += splitter.feed(data[at : at + size])
        at += size
    found += splitter.finish()
    assert [(f.line, f.custom_id) for f in found] == [(n, c) for n, c, _ in expected]
    for f, (_, _, raw) in zip(found, expected, strict=True):
        assert data[f.byte_offset : f.byte_offset + f.byte_length] == raw
    assert splitter.errors == []
