"""The dashboard as a new user meets it, in headless Chromium against a real `filedock serve`:
the login page says where a key comes from; Details opens a side pane that is in the viewport at
once (1280x800 and 390x844) with the fields, the report as tables, download, delete and copy-id;
search, status filter, sorting and the expiry column go through the server's list extensions;
the storage quota comes from the usage endpoint. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from filedock.client import FilesClient
from tests.helpers import TEST_KEY, ServerProcess, make_server

pytestmark = [pytest.mark.live, pytest.mark.browser]

AUTH = {"Authorization": f"Bearer {TEST_KEY}"}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    s = make_server(tmp_path_factory.mktemp("layout") / "data").start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def page(browser: Any, server: ServerProcess) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
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


def _login(page: Any) -> None:
    page.get_by_label("API key").fill(TEST_KEY)
    page.get_by_role("button", name="Connect").click()
    page.get_by_role("status").filter(has_text="Connected.").wait_for()


def _listings(page: Any) -> list[dict[str, list[str]]]:
    """The query of every GET /v1/files the page sends from now on."""
    seen: list[dict[str, list[str]]] = []

    def record(request: Any) -> None:
        parts = urlsplit(request.url)
        if request.method == "GET" and parts.path == "/v1/files":
            seen.append(parse_qs(parts.query))

    page.on("request", record)
    return seen


def _in_viewport(page: Any, selector: str) -> dict[str, float]:
    box: dict[str, float] = page.locator(selector).bounding_box()
    size = page.viewport_size
    assert box is not None, f"{selector} is not rendered"
    assert box["x"] >= 0 and box["y"] >= 0, box
    assert box["x"] + box["width"] <= size["width"] + 1, (box, size)
    assert box["y"] < size["height"] and box["height"] > 100, (box, size)
    return box


def _no_horizontal_scroll(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_login_page_says_where_a_key_comes_from(page: Any, artifacts: Path) -> None:
    help_text = page.locator("#key-help").inner_text()
    assert "filedock serve" in help_text and "filedock keys create" in help_text
    assert page.locator("#key-help").is_visible() and page.locator("#app").is_hidden()
    page.screenshot(path=str(artifacts / "layout-login.png"))
    _login(page)
    assert page.locator("#login").is_hidden()
    tab = page.get_by_role("link", name="Files")
    assert tab.get_attribute("aria-current") == "page"
    assert "proj_default" in page.locator("#session-project").inner_text()
    # An unknown route falls back to the first page.
    page.goto(page.url.split("#")[0] + "#/nothing-here")
    expect(page.locator("#page-files")).to_be_visible()


def test_details_pane_shows_at_once_with_report_and_actions(
    page: Any, server: ServerProcess, artifacts: Path
) -> None:
    bad = b'{"messages": [{"role": "user", "content": "hi"}]}\nnot json\n'
    with FilesClient(server.base_url, TEST_KEY) as client:
        for i in range(15):
            client.files.create(file=(f"filler-{i:02}.txt", b"x" * (i + 1)), purpose="assistants")
        f = client.files.create(file=("broken.jsonl", bad), purpose="fine-tune")
        f = client.files.wait_for_processing(f.id, poll_interval=0.2, max_wait_seconds=60)
    assert f.status == "error" and f.status_details
    # The oldest filler is the last row of a 20-row page: far below the fold at 1280x800.
    with FilesClient(server.base_url, TEST_KEY) as client:
        oldest = client.files.list(order="asc", limit=1).data[0]
    _login(page)
    row_button = page.get_by_role("button", name=f"Details of {oldest.filename}")
    row_button.scroll_into_view_if_needed()
    row_button.click()
    page.locator("#details-section").wait_for(state="visible")
    _in_viewport(page, "#details-section")
    expect(page.locator("#details-title")).to_have_text(oldest.filename)

    page.evaluate("window.scrollTo(0, 0)")
    page.get_by_role("button", name="Details of broken.jsonl").click()
    expect(page.locator("#details-title")).to_have_text("broken.jsonl")
    pane = page.locator("#details-section")
    expect(pane.locator("#report-section table.report-table tbody tr").first).to_be_visible()
    _in_viewport(page, "#details-section")
    fields = pane.locator("#details-fields").inner_text()
    assert f.id in fields and "fine-tune" in fields and "never" in fields
    # status_details appears once on the whole page, in its own box.
    body_text = page.locator("body").inner_text()
    assert body_text.count(f.status_details) == 1
    assert pane.locator("#status-details-text").inner_text() == f.status_details
    # The report: a verdict chip and stats as a table (not JSON), errors by line.
    report = pane.locator("#report-section")
    assert report.locator(".badge-error", has_text="invalid").count() == 1
    stats = report.locator("table.stats-table").inner_text()
    assert "examples" in stats and "{" not in report.inner_text()
    lines = report.locator("table.report-table tbody tr td:first-child").all_inner_texts()
    assert "2" in lines
    page.screenshot(path=str(artifacts / "layout-details-1280x800.png"))

    page.get_by_role("button", name="Copy id").click()
    page.get_by_role("status").filter(has_text=f"Copied {f.id}").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == f.id
    with page.expect_download() as info:
        pane.get_by_role("button", name="Download").click()
    assert Path(info.value.path()).read_bytes() == bad

    page.set_viewport_size(PHONE)
    _in_viewport(page, "#details-section")
    _no_horizontal_scroll(page)
    page.screenshot(path=str(artifacts / "layout-details-390x844.png"))
    page.keyboard.press("Escape")
    expect(pane).to_be_hidden()
    _no_horizontal_scroll(page)
    page.screenshot(path=str(artifacts / "layout-list-390x844.png"))

    page.set_viewport_size(DESKTOP)
    page.get_by_role("button", name="Details of broken.jsonl").click()
    pane.get_by_role("button", name="Delete").click()
    page.locator("#confirm-delete").click()
    expect(pane).to_be_hidden()
    expect(page.locator("#files-body tr", has_text="broken.jsonl")).to_have_count(0)
    assert httpx.get(f"{server.base_url}/files/{f.id}", headers=AUTH).status_code == 404


def test_search_status_sort_and_expiry_are_server_side(
    page: Any, server: ServerProcess, artifacts: Path
) -> None:
    with FilesClient(server.base_url, TEST_KEY) as client:
        small = client.files.create(file=("Invoice-small.txt", b"a"), purpose="user_data")
        big = client.files.create(
            file=("invoice-big.txt", b"b" * 5000),
            purpose="user_data",
            expires_after={"anchor": "created_at", "seconds": 86400},
        )
        other = client.files.create(file=("minutes.txt", b"c" * 50), purpose="user_data")
        failed = client.files.create(file=("bad-batch.jsonl", b"nope\n"), purpose="batch")
        failed = client.files.wait_for_processing(failed.id, poll_interval=0.2)
    assert failed.status == "error"
    _login(page)
    rows = page.locator("#files-body tr")
    seen = _listings(page)

    page.get_by_label("Search by name or id").fill("INVOICE")
    expect(rows).to_have_count(2)
    assert {rows.nth(i).get_attribute("data-file-id") for i in range(2)} == {small.id, big.id}
    assert any(q.get("search") == ["INVOICE"] for q in seen)  # the server filtered

    # Sort by size: largest first, then smallest first; the server sorts (`sort=bytes`).
    size_header = page.locator("#files-table th[data-sort='bytes']")
    size_header.get_by_role("button").click()
    expect(size_header).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_have_attribute("data-file-id", big.id)
    size_header.get_by_role("button").click()
    expect(size_header).to_have_attribute("aria-sort", "ascending")
    expect(rows.first).to_have_attribute("data-file-id", small.id)
    assert any(q.get("sort") == ["bytes"] and q.get("order") == ["asc"] for q in seen)

    # The expiry column: a date for the expiring file, "never" for the other.
    big_row = page.locator(f"#files-body tr[data-file-id='{big.id}']")
    expires = big_row.locator("td[data-label='Expires']").inner_text()
    assert big.expires_at is not None
    assert expires == time.strftime("%Y-%m-%d %H:%M", time.gmtime(big.expires_at))
    small_row = page.locator(f"#files-body tr[data-file-id='{small.id}']")
    assert small_row.locator("td[data-label='Expires']").inner_text() == "never"
    page.screenshot(path=str(artifacts / "layout-search-sort.png"))

    # Search by an exact id, then the status filter alone.
    page.get_by_label("Search by name or id").fill(other.id)
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-file-id", other.id)
    page.get_by_label("Search by name or id").fill("")
    page.get_by_label("Status", exact=True).select_option("error")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-file-id", failed.id)
    assert any(q.get("status") == ["error"] for q in seen)


def test_quota_used_and_left_come_from_the_usage_endpoint(
    page: Any, server: ServerProcess, artifacts: Path
) -> None:
    quota = 10 * 1024 * 1024
    r = httpx.post(
        f"{server.base_url}/organization/projects/proj_default",
        headers=AUTH,
        json={"storage_quota_bytes": quota},
    )
    assert r.status_code == 200, r.text
    usage_calls: list[str] = []
    page.on("request", lambda req: usage_calls.append(req.url) if "/usage" in req.url else None)
    _login(page)
    usage = httpx.get(
        f"{server.base_url}/organization/projects/proj_default/usage", headers=AUTH
    ).json()
    used = usage["quota"]["used_bytes"] + usage["quota"]["reserved_bytes"]
    text = page.locator("#quota-text")
    expect(text).to_contain_text("of 10.0 MiB used")
    expect(text).to_contain_text("left")
    meter = page.locator("#quota-meter")
    assert abs(float(meter.get_attribute("aria-valuenow") or "0") - 100 * used / quota) < 0.1
    assert usage_calls and usage_calls[0].endswith("/organization/projects/proj_default/usage")
    page.locator("#usage-total").click()  # open "By purpose"
    per_purpose = page.locator("#usage-body tr[data-purpose='user_data']").inner_text()
    assert str(usage["purposes"]["user_data"]["bytes"]) in per_purpose
    page.screenshot(path=str(artifacts / "layout-quota.png"))
    # Back to the default quota for the other tests of this module.
    httpx.post(
        f"{server.base_url}/organization/projects/proj_default",
        headers=AUTH,
        content=json.dumps({"storage_quota_bytes": None}),
    )
