"""The access log never holds a secret sent in the query string (?api_key=... and the like)."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from filedock.logs import redact_query
from filedock.settings import Settings
from filedock.web import create_app
from tests.conftest import AUTH
from tests.helpers import TEST_KEY, make_server

SECRET = "sk-fd-query-secret-0123456789"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ""),
        ("limit=2&order=asc", "limit=2&order=asc"),
        (f"api_key={SECRET}", "api_key=***"),
        (f"limit=2&API_KEY={SECRET}&after=file-1", "limit=2&API_KEY=***&after=file-1"),
        (
            "access_token=abc&X-Amz-Signature=def&password=x",
            "access_token=***&X-Amz-Signature=***&password=***",
        ),
        (f"q={SECRET}", "q=***"),  # shaped like a key, whatever its name
        (f"q=%73k-{SECRET[3:]}", "q=***"),  # percent-encoded
        (SECRET, "***"),  # a bare key
        ("auth", "auth"),  # a name without a value has nothing to hide
    ],
)
def test_redact_query(query: str, expected: str) -> None:
    assert redact_query(query) == expected


def test_access_log_redacts_secrets_in_the_query(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "data", api_key=TEST_KEY, access_log=True)
    with (
        TestClient(create_app(settings), headers=AUTH) as client,
        caplog.at_level(logging.INFO, logger="filedock.access"),
    ):
        assert client.get(f"/v1/files?limit=2&api_key={SECRET}").status_code == 200
        # Refused requests are logged too.
        refused = client.get(f"/v1/files?api_key={SECRET}", headers={"Authorization": ""})
        assert refused.status_code == 401
    lines = [r for r in caplog.records if r.name == "filedock.access"]
    assert len(lines) == 2
    for record in lines:
        assert SECRET not in record.getMessage()
        assert SECRET not in repr(record.__dict__)
        assert record.query.endswith("api_key=***")  # type: ignore[attr-defined]
    assert lines[0].getMessage().startswith("GET /v1/files?limit=2&api_key=*** 200 ")


@pytest.mark.live
def test_server_logs_never_hold_a_query_secret(tmp_path: Path) -> None:
    # At debug level uvicorn writes its own access line with the raw request target as well.
    server = make_server(
        tmp_path / "data",
        env={"FILEDOCK_ACCESS_LOG": "true", "FILEDOCK_LOG_LEVEL": "debug"},
    ).start()
    try:
        response = httpx.get(
            server.base_url + f"/files?limit=1&api_key={SECRET}",
            headers={"Authorization": f"Bearer {TEST_KEY}"},
        )
        assert response.status_code == 200
    finally:
        server.stop()
    log = server.log()
    assert "GET /v1/files?limit=1&api_key=*** HTTP/1.1" in log  # uvicorn's line
    assert "GET /v1/files?limit=1&api_key=*** 200" in log  # filedock.access
    assert SECRET not in log
