"""GET /metrics after real traffic through the app; JSON logs carry the request id."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from filedock.logs import JsonFormatter, RequestIdFilter, request_id_var
from filedock.metrics import Metrics
from filedock.settings import Settings
from filedock.web import create_app
from tests.conftest import AUTH
from tests.helpers import TEST_KEY, make_server

CORPUS = Path(__file__).parent.parent / "validation" / "corpus"


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counters_move_with_traffic(client: TestClient) -> None:
    before = scrape(client)
    body = b"y" * 5000
    created = client.post(
        "/v1/files", files={"file": ("m.txt", body)}, data={"purpose": "assistants"}
    ).json()
    client.post("/v1/files", files={"file": ("v.txt", b"ab")}, data={"purpose": "user_data"})
    assert client.get(f"/v1/files/{created['id']}/content").content == body
    assert client.get("/v1/files/file-missing").status_code == 404
    assert client.get("/v1/files", headers={"Authorization": "Bearer nope"}).status_code == 401
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert (
        delta("filedock_http_requests_total", method="POST", route="/v1/files", status="200") == 2
    )
    assert (
        delta(
            "filedock_http_requests_total", method="GET", route="/v1/files/{file_id}", status="404"
        )
        == 1
    )
    # Refused by authentication before routing: still labelled with its route template.
    assert delta("filedock_http_requests_total", method="GET", route="/v1/files", status="401") == 1
    assert (
        delta("filedock_http_request_duration_seconds_count", method="POST", route="/v1/files") == 2
    )
    assert delta("filedock_uploaded_bytes_total") > 5000  # the bodies, multipart framing included
    assert delta("filedock_downloaded_bytes_total") == 5000
    assert value(after, "filedock_uploads_in_flight") == 0
    # Storage gauges are computed at scrape time from the metadata store.
    assert value(after, "filedock_stored_bytes", purpose="assistants") == 5000
    assert value(after, "filedock_stored_files", purpose="user_data") == 1
    client.delete(f"/v1/files/{created['id']}")
    assert value(scrape(client), "filedock_stored_files", purpose="assistants") == 0
    assert ("filedock_processing_queue_depth", ()) in after


def _upload(client: TestClient, purpose: str, name: str, data: bytes) -> str:
    response = client.post("/v1/files", files={"file": (name, data)}, data={"purpose": purpose})
    assert response.status_code == 200, response.text
    file_id: str = response.json()["id"]
    return file_id


def _wait_final(client: TestClient, file_id: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status: str = client.get(f"/v1/files/{file_id}").json()["status"]
        if status != "uploaded":
            return status
        time.sleep(0.02)
    raise AssertionError(f"{file_id} was never processed")


def test_processing_metrics_move_with_uploads(client: TestClient) -> None:
    before = scrape(client)
    good = _upload(
        client, "fine-tune", "ok.jsonl", (CORPUS / "fine-tune/chat_valid.jsonl").read_bytes()
    )
    bad = _upload(client, "batch", "bad.jsonl", (CORPUS / "batch/errors.jsonl").read_bytes())
    _upload(client, "user_data", "plain.bin", b"not checked")
    assert (_wait_final(client, good), _wait_final(client, bad)) == ("processed", "error")
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("filedock_processing_outcomes_total", outcome="processed") == 1
    assert delta("filedock_processing_outcomes_total", outcome="error") == 1
    assert delta("filedock_processing_duration_seconds_count") == 2
    assert value(after, "filedock_processing_queue_depth") == 0


def test_queue_depth_counts_files_waiting_for_a_check(settings: Settings) -> None:
    # Without the background worker nothing leaves the queue: the gauge shows what waits.
    app = create_app(settings, background=False)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        data = (CORPUS / "fine-tune/chat_valid.jsonl").read_bytes()
        _upload(client, "fine-tune", "a.jsonl", data)
        _upload(client, "fine-tune", "b.jsonl", data)
        _upload(client, "user_data", "c.bin", b"never queued")
        assert value(scrape(client), "filedock_processing_queue_depth") == 2


def test_strict_mode_checks_are_counted(settings: Settings) -> None:
    app = create_app(settings.replace(reject_invalid=True))
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        refused = client.post(
            "/v1/files",
            files={"file": ("bad.jsonl", (CORPUS / "batch/errors.jsonl").read_bytes())},
            data={"purpose": "batch"},
        )
        assert refused.status_code == 400
        samples = scrape(client)
        assert value(samples, "filedock_processing_outcomes_total", outcome="error") == 1
        assert value(samples, "filedock_processing_queue_depth") == 0


def test_each_app_has_its_own_registry(settings: Settings, tmp_path: Path) -> None:
    first, second = create_app(settings), create_app(settings.replace(data_dir=tmp_path / "b"))
    m1: Metrics = first.state.metrics
    m2: Metrics = second.state.metrics
    assert m1.registry is not m2.registry
    m1.processing.finished("error", 0.5)
    assert (
        m1.registry.get_sample_value("filedock_processing_outcomes_total", {"outcome": "error"})
        == 1
    )
    assert (
        m2.registry.get_sample_value("filedock_processing_outcomes_total", {"outcome": "error"})
        is None
    )


def test_metrics_can_be_disabled(settings: Settings) -> None:
    with TestClient(create_app(settings.replace(metrics_enabled=False)), headers=AUTH) as c:
        assert c.get("/metrics").status_code == 404


def test_json_formatter_includes_request_id_and_extras() -> None:
    record = logging.LogRecord(
        "filedock.x", logging.WARNING, __file__, 1, "hello %s", ("you",), None
    )
    record.route = "/v1/files"
    token = request_id_var.set("req_abc")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "hello you" and entry["level"] == "warning"
    assert entry["request_id"] == "req_abc" and entry["route"] == "/v1/files"


@pytest.mark.live
def test_server_writes_json_access_logs_with_request_ids(tmp_path: Path) -> None:
    server = make_server(
        tmp_path / "data",
        env={
            "FILEDOCK_LOG_FORMAT": "json",
            "FILEDOCK_ACCESS_LOG": "true",
            "FILEDOCK_LOG_LEVEL": "info",
        },
    ).start()
    try:
        r = httpx.get(
            server.base_url + "/files/file-nothere",
            headers={"Authorization": f"Bearer {TEST_KEY}", "x-request-id": "req-test-123"},
        )
        assert r.status_code == 404 and r.headers["x-request-id"] == "req-test-123"
    finally:
        server.stop()
    entries = [json.loads(line) for line in server.log().splitlines() if line.startswith("{")]
    access = [e for e in entries if e.get("logger") == "filedock.access"]
    assert any(
        e["request_id"] == "req-test-123"
        and e["status"] == 404
        and e["route"] == "/v1/files/{file_id}"
        for e in access
    ), entries
    # Every line the server wrote is JSON (uvicorn's own lines included).
    assert all(line.startswith("{") for line in server.log().splitlines() if line.strip())
