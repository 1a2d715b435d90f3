"""The dashboard's Batches page in headless Chromium against a real `filedock serve` running
batches on the stub engine (a stub: the test holds its answers to keep a batch running): the
list with status, counts and usage, progress moving live without a reload, the errors of a
failed batch by line, downloads of the output and error files, and Cancel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from filedock.client import Batch, FilesClient
from tests.batches.conftest import jsonl, request_line
from tests.batches.stub_engine import Received, Reply, StubEngine
from tests.helpers import TEST_KEY, ServerProcess, batch_server

pytestmark = [pytest.mark.live, pytest.mark.browser]


def bad_request_for_x1(request: Received, seen: int) -> Reply:
    if request.marker == "x1":
        return Reply(status=400, body={"error": {"message": "bad x1"}})
    return Reply()


@pytest.fixture(scope="module")
def stub() -> Iterator[StubEngine]:
    engine = StubEngine(script=bad_request_for_x1).start()
    try:
        yield engine
    finally:
        engine.stop()


@pytest.fixture(scope="module")
def server(stub: StubEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with batch_server(tmp_path_factory.mktemp("dash-batches") / "data", stub.url) as s:
        yield s


@pytest.fixture
def page(browser: Any, server: ServerProcess) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.goto(server.url + "/")
    try:
        yield pg
    finally:
        context.close()
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []


def submit(server: ServerProcess, prefix: str, n: int) -> Batch:
    with FilesClient(server.base_url, TEST_KEY) as client:
        lines = [request_line(f"{prefix}{i}") for i in range(n)]
        file = client.files.create(file=(f"{prefix}.jsonl", jsonl(lines)), purpose="batch")
        return client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions")


def finished(server: ServerProcess, batch_id: str) -> Batch:
    with FilesClient(server.base_url, TEST_KEY) as client:
        return client.batches.wait(batch_id, poll_interval=0.05, max_wait_seconds=60)


def open_batches(page: Any) -> None:
    page.get_by_label("API key").fill(TEST_KEY)
    page.get_by_role("button", name="Connect").click()
    page.get_by_role("status").filter(has_text="Connected.").wait_for()
    tab = page.locator("#tab-batches")
    if tab.count():  # the dashboard with a tab per page
        tab.click()
    expect(page.locator("#batches-section")).to_be_visible()


def test_batches_page(
    page: Any, server: ServerProcess, stub: StubEngine, tmp_path: Path, artifacts: Path
) -> None:
    done = finished(server, submit(server, "x", 4).id)  # x1 fails: an error file
    assert done.status == "completed"
    with FilesClient(server.base_url, TEST_KEY) as client:
        dup = tmp_path / "dup.jsonl"
        dup.write_bytes(jsonl([request_line("d"), request_line("d")]))
        file = client.files.create(file=dup, purpose="batch")
        failed = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions")
    assert finished(server, failed.id).status == "failed"
    stub.hold()
    try:
        running = submit(server, "r", 6)
        open_batches(page)
        row = page.locator(f"tr[data-batch-id='{running.id}']")
        expect(row).to_have_attribute("data-status", "in_progress", timeout=15_000)
        expect(row.locator("progress")).to_have_attribute("max", "6")
        page.screenshot(path=str(artifacts / "dashboard-batches-running.png"), full_page=True)
    finally:
        stub.release()
    # Live: the same row moves to completed without a reload.
    expect(row).to_have_attribute("data-status", "completed", timeout=15_000)
    expect(row.locator(".batch-counts")).to_have_text("6/6")
    expect(row.locator("progress")).to_have_attribute("value", "6")
    expect(row.locator(".batch-usage")).to_contain_text("42 (30 in, 12 out)")  # stub: 5 + 2 each

    # Newest first; the completed batch with a failed line, and the failed batch's errors.
    ids = page.locator("#batches-table tbody tr[data-batch-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.batchId)"
    )
    assert ids[:3] == [running.id, failed.id, done.id]
    done_row = page.locator(f"tr[data-batch-id='{done.id}']")
    expect(done_row.locator(".batch-counts")).to_have_text("4/4 · 1 failed")
    expect(page.locator(f"tr[data-errors-of='{failed.id}']")).to_contain_text(
        "line 2: [duplicate_custom_id]"
    )
    expect(page.locator(f"tr[data-batch-id='{failed.id}'] .badge")).to_have_text("failed")

    with page.expect_download() as info:
        done_row.locator("button[data-file='output']").click()
    output = Path(info.value.path()).read_text()
    assert info.value.suggested_filename == f"batch_{done.id.removeprefix('batch_')}_output.jsonl"
    assert sorted(json.loads(line)["custom_id"] for line in output.splitlines()) == [
        "x0", "x2", "x3",
    ]  # fmt: skip
    with page.expect_download() as info:
        done_row.locator("button[data-file='errors']").click()
    (error_line,) = Path(info.value.path()).read_text().splitlines()
    assert json.loads(error_line)["custom_id"] == "x1"
    no_output = page.locator(f"tr[data-batch-id='{failed.id}'] button[data-file='output']")
    expect(no_output).to_have_count(0)

    # Cancel from the page.
    stub.hold()
    try:
        doomed = submit(server, "c", 5)
        row = page.locator(f"tr[data-batch-id='{doomed.id}']")
        expect(row).to_have_attribute("data-status", "in_progress", timeout=15_000)
        row.get_by_role("button", name=f"Cancel {doomed.id}").click()
        expect(row).to_have_attribute("data-status", "cancelled", timeout=15_000)
        expect(row.get_by_role("button", name=f"Cancel {doomed.id}")).to_have_count(0)
    finally:
        stub.release()
    page.screenshot(path=str(artifacts / "dashboard-batches.png"), full_page=True)
