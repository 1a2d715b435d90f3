"""The dashboard in headless Chromium against a real `filedock serve`: log in, upload with a
progress bar, see a failed file's status details and its report, download, delete, upload a
large file through the Uploads API, and the narrow layout. Screenshots go to test-artifacts/."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from filedock.client import FilesClient
from filedock.metadata.factory import metadata_store_for_url
from tests.helpers import TEST_KEY, ServerProcess, make_server

pytestmark = [pytest.mark.live, pytest.mark.browser]

# Record every value the upload progress bar takes (the value attribute reflects the property).
PROGRESS_RECORDER = """
window.__progress = [];
new MutationObserver((records) => {
  for (const r of records) {
    if (r.target.tagName === 'PROGRESS') window.__progress.push(Number(r.target.value));
    for (const n of r.addedNodes || []) {
      if (n.querySelector && n.querySelector('progress')) {
        window.__progress.push(Number(n.querySelector('progress').value));
      }
    }
  }
}).observe(document.body, {subtree: true, childList: true, attributes: true,
                           attributeFilter: ['value']});
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    s = make_server(tmp_path_factory.mktemp("dash") / "data").start()
    try:
        yield s
    finally:
        s.stop()


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
    # A CSP violation or script error shows up here; refused requests (401, 404) are expected.
    assert [e for e in errors if not e.startswith("Failed to load resource")] == []


def _login(page: Any) -> None:
    page.get_by_label("API key").fill(TEST_KEY)
    page.get_by_role("button", name="Connect").click()
    page.get_by_role("status").filter(has_text="Connected.").wait_for()


def _mark_error(server: ServerProcess, file_id: str, details: str) -> None:
    """Give a file a failed status through the server's own metadata store."""

    async def mark() -> None:
        store = metadata_store_for_url(f"sqlite:///{server.data_dir / 'filedock.sqlite3'}")
        await store.open()
        try:
            await store.update_file_status(file_id, "error", details)
        finally:
            await store.close()

    # Playwright's sync API runs an event loop in this thread: use another one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, mark()).result()


def test_login_rejects_a_bad_key(page: Any) -> None:
    page.get_by_label("API key").fill("sk-wrong")
    page.get_by_role("button", name="Connect").click()
    page.get_by_role("status").filter(has_text="Could not connect").wait_for()
    assert page.locator("#app").is_hidden()
    assert page.evaluate("sessionStorage.getItem('filedock.apiKey')") is None


def test_upload_browse_download_delete(
    page: Any, server: ServerProcess, tmp_path: Path, artifacts: Path
) -> None:
    _login(page)
    assert page.evaluate("sessionStorage.getItem('filedock.apiKey')") == TEST_KEY
    page.evaluate(PROGRESS_RECORDER)

    payload = os.urandom(3 * 1024 * 1024 + 17)
    src = tmp_path / "sample.bin"
    src.write_bytes(payload)
    page.get_by_label("Purpose", exact=True).first.select_option("user_data")
    page.locator("#file-input").set_input_files(str(src))
    row = page.locator("li.upload-item[data-filename='sample.bin']")
    row.locator(".upload-text").filter(has_text="processed").wait_for(timeout=30_000)
    values = page.evaluate("window.__progress")
    assert values, "the progress bar never moved"
    assert values == sorted(values), f"progress went backwards: {values}"
    assert values[-1] == len(payload)
    assert row.locator("progress").get_attribute("max") == str(len(payload))

    table_row = page.locator("#files-body tr", has_text="sample.bin")
    table_row.wait_for()
    file_id = table_row.get_attribute("data-file-id")
    assert file_id and file_id.startswith("file-")
    # The per-purpose table sits in a closed <details> under the quota line.
    usage_row = page.locator("#usage-body tr[data-purpose='user_data']")
    usage_row.wait_for(state="attached")
    assert str(len(payload)) in (usage_row.text_content() or "")
    page.screenshot(path=str(artifacts / "dashboard-after-upload.png"), full_page=True)

    with page.expect_download() as info:
        table_row.get_by_role("button", name="Download sample.bin").click()
    downloaded = tmp_path / "downloaded.bin"
    info.value.save_as(str(downloaded))
    assert downloaded.read_bytes() == payload

    table_row.get_by_role("button", name="Delete sample.bin").click()
    dialog = page.locator("#confirm-dialog")
    dialog.wait_for(state="visible")
    assert file_id in dialog.inner_text()
    page.screenshot(path=str(artifacts / "dashboard-confirm-delete.png"))
    page.get_by_role("button", name="Cancel").click()
    assert table_row.is_visible()
    table_row.get_by_role("button", name="Delete sample.bin").click()
    page.locator("#confirm-delete").click()
    page.locator("#files-body tr", has_text="sample.bin").wait_for(state="detached")
    r = httpx.get(
        f"{server.base_url}/files/{file_id}", headers={"Authorization": f"Bearer {TEST_KEY}"}
    )
    assert r.status_code == 404


def test_failed_file_shows_status_details_and_pagination(
    page: Any, server: ServerProcess, artifacts: Path
) -> None:
    with FilesClient(server.base_url, TEST_KEY) as client:
        ids = [
            client.files.create(file=(f"page-{i}.txt", b"x" * (i + 1)), purpose="assistants").id
            for i in range(12)
        ]
        # Its report is stored when processing ends; then the status is made a failure.
        client.files.wait_for_processing(ids[-1])
    _mark_error(server, ids[-1], "Invalid file format. Example 2 cannot be parsed. (line 2)")
    _login(page)
    page.get_by_label("Per page").select_option("10")
    page.get_by_label("Purpose", exact=True).nth(1).select_option("assistants")
    rows = page.locator("#files-body tr")
    # expect() retries: renders of listings started before the filter change do not count.
    expect(rows).to_have_count(10)
    expect(rows.first).to_contain_text("page-11.txt")
    assert page.locator("#page-label", has_text="Page 1").is_visible()
    page.get_by_role("button", name="Next").click()
    page.locator("#page-label", has_text="Page 2").wait_for()
    expect(rows).to_have_count(2)
    expect(rows.last).to_contain_text("page-0.txt")
    page.get_by_role("button", name="Previous").click()
    page.locator("#page-label", has_text="Page 1").wait_for()

    page.get_by_role("button", name="Details of page-11.txt").click()
    details = page.locator("#details-section")
    details.wait_for(state="visible")
    assert "Example 2 cannot be parsed" in page.locator("#status-details-text").inner_text()
    # The file's status, once, in its fields (the report below may carry its own verdict chip).
    assert details.locator("#details-fields .badge-error").count() == 1
    # The report extension's answer is rendered as a summary and a statistics table.
    report = page.locator("#report-section")
    report.wait_for(state="visible")
    expect(report).to_contain_text("format txt")
    stats = report.get_by_role("table", name="Report statistics")
    expect(stats).to_contain_text("bytes")
    expect(stats).to_contain_text("12")  # page-11.txt holds 12 bytes
    page.screenshot(path=str(artifacts / "dashboard-failed-file.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(200)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=str(artifacts / "dashboard-narrow.png"), full_page=True)


def test_failed_file_report_rendered_by_line(
    page: Any, server: ServerProcess, artifacts: Path
) -> None:
    """A fine-tune file with a broken line 2 fails processing; its report lists the line."""
    bad = b'{"messages": [{"role": "user", "content": "hi"}]}\nnot json\n'
    with FilesClient(server.base_url, TEST_KEY) as client:
        f = client.files.create(file=("broken.jsonl", bad), purpose="fine-tune")
        f = client.files.wait_for_processing(f.id, poll_interval=0.2, max_wait_seconds=60)
    assert f.status == "error"
    _login(page)
    page.get_by_role("button", name="Details of broken.jsonl").first.click()
    report = page.locator("#report-section")
    report.wait_for(state="visible")
    rows = report.locator("table.report-table tbody tr")
    rows.first.wait_for()
    assert any(
        rows.nth(i).locator("td").first.inner_text().strip() == "2" for i in range(rows.count())
    )
    page.screenshot(path=str(artifacts / "dashboard-report.png"), full_page=True)


def test_large_file_goes_through_the_uploads_api(
    page: Any, server: ServerProcess, tmp_path: Path, artifacts: Path
) -> None:
    """Above the dashboard's threshold (lowered here) the upload is split into parallel parts."""
    page.evaluate(
        "sessionStorage.setItem('filedock.chunkThreshold', String(512 * 1024));"
        "sessionStorage.setItem('filedock.partSize', String(256 * 1024));"
    )
    page.reload()
    _login(page)
    page.evaluate(PROGRESS_RECORDER)
    parts: list[str] = []
    page.on("request", lambda req: parts.append(req.url) if req.url.endswith("/parts") else None)
    payload = os.urandom(1024 * 1024 + 9)
    src = tmp_path / "chunked.bin"
    src.write_bytes(payload)
    page.locator("#file-input").set_input_files(str(src))
    row = page.locator("li.upload-item[data-filename='chunked.bin']")
    row.locator(".upload-text").filter(has_text="file-").wait_for(timeout=30_000)
    assert len(parts) == 5  # ceil((1 MiB + 9) / 256 KiB)
    values = page.evaluate("window.__progress")
    assert values == sorted(values) and values[-1] == len(payload)
    file_id = row.locator(".upload-text").inner_text().split("(")[1].rstrip(")")
    r = httpx.get(
        f"{server.base_url}/files/{file_id}/content",
        headers={"Authorization": f"Bearer {TEST_KEY}"},
    )
    assert r.content == payload
    page.screenshot(path=str(artifacts / "dashboard-chunked-upload.png"), full_page=True)
