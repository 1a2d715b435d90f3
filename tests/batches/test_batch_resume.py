"""A server stopped in the middle of a batch gives its requests back; the next one resumes it."""

from __future__ import annotations

import time
from collections import Counter

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


def test_a_stopped_server_resumes_where_it_was(make_client: AppFactory, stub: StubEngine) -> None:
    ids = [f"r{i}" for i in range(30)]
    # Long leases: only giving the requests back lets the restart run them at once.
    first = make_client(batch_concurrency=3, batch_lease_seconds=3600)
    batch = create(first, upload(first, jsonl([request_line(c) for c in ids])))
    wait_for(first, batch["id"], lambda b: b["request_counts"]["completed"] >= 5)
    stub.hold()
    deadline = time.monotonic() + 15
    while stub.in_flight < 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    first.__exit__(None, None, None)  # SIGTERM-like: lifespan shutdown with 3 requests held
    stub.release()
    second = make_client(batch_concurrency=3, batch_lease_seconds=3600)
    done = wait_for(second, batch["id"], timeout=30)
    assert done["status"] == "completed", done
    assert [line["custom_id"] for line in file_lines(second, done["output_file_id"])] == ids
    resent = sum(n - 1 for n in Counter(stub.counts()).values())
    assert resent <= 3  # only the requests in flight at the stop
