"""Retries against the fault-injecting stub engine: 429 (Retry-After), 5xx, drops, timeouts."""

from __future__ import annotations

from tests.batches.conftest import (
    AppFactory,
    create,
    file_lines,
    jsonl,
    request_line,
    upload,
    wait_for,
)
from tests.batches.stub_engine import Received, Reply, StubEngine


def run(client: object, ids: list[str]) -> dict[str, object]:
    batch = create(client, upload(client, jsonl([request_line(c) for c in ids])))  # type: ignore[arg-type]
    return wait_for(client, batch["id"])  # type: ignore[arg-type]


def test_429_is_retried_after_its_retry_after(make_client: AppFactory, stub: StubEngine) -> None:
    def script(request: Received, seen: int) -> Reply:
        if request.marker == "slow-down" and seen == 1:
            return Reply(429, {"error": {"message": "busy"}}, {"Retry-After": "0.4"})
        return Reply()

    stub.script = script
    client = make_client(batch_retry_base_seconds=0.001)
    done = run(client, ["slow-down", "fine"])
    assert done["status"] == "completed", done
    assert done["request_counts"] == {"total": 2, "completed": 2, "failed": 0}
    assert stub.counts() == {"slow-down": 2, "fine": 1}
    first, second = [r.at for r in stub.received if r.marker == "slow-down"]
    assert second - first >= 0.4  # Retry-After, not the 1 ms base delay
    assert done["error_file_id"] is None


def test_5xx_and_dropped_connections_are_retried(make_client: AppFactory, stub: StubEngine) -> None:
    def script(request: Received, seen: int) -> Reply:
        if request.marker == "flaky" and seen <= 2:
            return Reply(500 if seen == 1 else 503, {"error": {"message": "oops"}})
        if request.marker == "dropped" and seen == 1:
            return Reply(drop=True)
        return Reply()

    stub.script = script
    client = make_client()
    done = run(client, ["flaky", "dropped", "fine"])
    assert done["status"] == "completed", done
    assert stub.counts() == {"flaky": 3, "dropped": 2, "fine": 1}
    assert [line["custom_id"] for line in file_lines(client, done["output_file_id"])] == [
        "flaky",
        "dropped",
        "fine",
    ]


def test_retries_end_in_the_error_file_with_the_engines_answer(
    make_client: AppFactory, stub: StubEngine
) -> None:
    def script(request: Received, seen: int) -> Reply:
        if request.marker == "broken":
            return Reply(500, {"error": {"message": f"attempt {seen}"}})
        if request.marker == "bad":
            return Reply(400, {"error": {"message": "bad request", "code": "invalid"}})
        return Reply()

    stub.script = script
    client = make_client(batch_max_retries=2)
    done = run(client, ["ok-1", "broken", "bad", "ok-2"])
    assert done["status"] == "completed", done
    assert done["request_counts"] == {"total": 4, "completed": 2, "failed": 2}
    assert stub.counts() == {"ok-1": 1, "broken": 3, "bad": 1, "ok-2": 1}  # 400: never retried
    errors = file_lines(client, done["error_file_id"])
    assert [e["custom_id"] for e in errors] == ["broken", "bad"]
    assert errors[0]["response"]["status_code"] == 500
    assert errors[0]["response"]["body"] == {"error": {"message": "attempt 3"}}
    assert errors[1]["response"]["status_code"] == 400
    assert errors[1]["error"] is None
    meta = client.get(f"/v1/files/{done['error_file_id']}").json()
    assert meta["filename"] == f"{done['id']}_error.jsonl" and meta["purpose"] == "batch_output"
    outputs = file_lines(client, done["output_file_id"])
    assert [o["custom_id"] for o in outputs] == ["ok-1", "ok-2"]


def test_an_engine_that_never_answers_in_time(make_client: AppFactory, stub: StubEngine) -> None:
    stub.script = lambda request, seen: Reply(delay=1.0 if request.marker == "stuck" else 0.0)
    client = make_client(batch_request_timeout_seconds=0.2, batch_max_retries=1)
    done = run(client, ["stuck", "fine"])
    assert done["status"] == "completed", done
    assert done["request_counts"] == {"total": 2, "completed": 1, "failed": 1}
    [error] = file_lines(client, done["error_file_id"])
    assert error["custom_id"] == "stuck" and error["response"] is None
    assert error["error"]["code"] == "request_timeout"
    assert stub.counts()["stuck"] == 2


def test_bodies_pass_through_and_a_non_json_body_becomes_a_string(
    make_client: AppFactory, stub: StubEngine
) -> None:
    pretty = b'{\n  "object": "list",\n  "data": [{"embedding": [1.5], "text": "a\\nb"}],\n'
    pretty += b'  "usage": {"prompt_tokens": 4, "total_tokens": 4}\n}\n'

    def script(request: Received, seen: int) -> Reply:
        if request.marker == "proxy":
            return Reply(403, b"<html>Forbidden</html>")
        return Reply(body=pretty)

    stub.script = script
    client = make_client()
    lines = [request_line(c, url="/v1/embeddings") for c in ("pretty", "proxy")]
    batch = create(client, upload(client, jsonl(lines)), endpoint="/v1/embeddings")
    done = wait_for(client, batch["id"])
    assert done["status"] == "completed", done
    [output] = file_lines(client, done["output_file_id"])
    assert output["response"]["body"] == {
        "object": "list",
        "data": [{"embedding": [1.5], "text": "a\nb"}],
        "usage": {"prompt_tokens": 4, "total_tokens": 4},
    }
    [error] = file_lines(client, done["error_file_id"])
    assert error["response"]["status_code"] == 403
    assert error["response"]["body"] == "<html>Forbidden</html>"
    assert done["usage"]["input_tokens"] == 4 and done["usage"]["output_tokens"] == 0
    assert done["usage"]["total_tokens"] == 4
