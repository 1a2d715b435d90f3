"""Rate limits: token buckets per key, 429 with Retry-After and x-ratelimit-* headers, the SDK."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest
from starlette.testclient import TestClient

from filedock.services.ratelimit import RateLimiter, format_duration
from tests.helpers import TEST_KEY, make_server
from tests.projects.conftest import make_tenant


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refills_continuously_and_caps_at_one_minute() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    for remaining in (2, 1, 0):
        decision = limiter.take("k", 3, None)
        assert decision.allowed and decision.requests is not None
        assert decision.requests.remaining == remaining
    denied = limiter.take("k", 3, None)
    assert not denied.allowed and denied.denied_by == "requests"
    assert denied.requests is not None and denied.requests.retry_after == pytest.approx(20)
    clock.now += 20  # 3 per minute: one token every 20 s
    assert limiter.take("k", 3, None).allowed
    assert limiter.take("other key", 3, None).allowed  # buckets are per key
    clock.now += 3600
    assert limiter.take("k", 3, None).requests.remaining == 2  # type: ignore[union-attr]
    assert limiter.take("k", 0, None).requests is None  # 0 = unlimited


def test_an_upload_needs_both_buckets_and_takes_from_neither_when_refused() -> None:
    limiter = RateLimiter(FakeClock())
    assert limiter.take("k", 10, 1).allowed
    refused = limiter.take("k", 10, 1)
    assert not refused.allowed and refused.denied_by == "uploads"
    assert refused.requests is not None and refused.requests.remaining == 9


def test_durations_are_formatted_like_openai() -> None:
    assert format_duration(0.0004) == "1ms"
    assert format_duration(0.25) == "250ms"
    assert format_duration(1.5) == "1.5s"
    assert format_duration(20) == "20s"
    assert format_duration(360) == "6m0s"


def test_429_with_retry_after_and_headers_on_every_response(client: TestClient) -> None:
    tenant = make_tenant(client, "limited", max_requests_per_1_minute=3)
    remaining = []
    for _ in range(3):
        ok = client.get("/v1/files", headers=tenant.headers)
        assert ok.status_code == 200
        assert ok.headers["x-ratelimit-limit-requests"] == "3"
        remaining.append(ok.headers["x-ratelimit-remaining-requests"])
        assert ok.headers["x-ratelimit-reset-requests"].endswith("s")
    assert remaining == ["2", "1", "0"]
    limited = client.get("/v1/files/file-whatever", headers=tenant.headers)
    assert limited.status_code == 429
    error = limited.json()["error"]
    assert error["code"] == "rate_limit_exceeded" and error["type"] == "requests"
    assert error["message"].startswith("Rate limit reached for requests per min (RPM): Limit 3")
    assert 1 <= int(limited.headers["retry-after"]) <= 20
    assert 0 < int(limited.headers["retry-after-ms"]) <= 20_000
    assert limited.headers["x-ratelimit-remaining-requests"] == "0"
    assert "x-request-id" in limited.headers
    # Another key is not held back; errors carry the headers too.
    other = client.get("/v1/files/file-whatever")
    assert other.status_code == 404 and "x-ratelimit-limit-requests" in other.headers


def test_uploads_per_minute(client: TestClient) -> None:
    tenant = make_tenant(client, "uploads", max_uploads_per_1_minute=1)

    def post() -> httpx.Response:
        return client.post(
            "/v1/files",
            files={"file": ("a.txt", b"a")},
            data={"purpose": "user_data"},
            headers=tenant.headers,
        )

    first = post()
    assert first.status_code == 200 and first.headers["x-ratelimit-limit-uploads"] == "1"
    second = post()
    assert second.status_code == 429
    assert "uploads per min" in second.json()["error"]["message"]
    assert int(second.headers["retry-after"]) >= 1
    assert client.get("/v1/files", headers=tenant.headers).status_code == 200  # reads go on
    assert len(client.get("/v1/files", headers=tenant.headers).json()["data"]) == 1


@pytest.mark.live
def test_the_official_sdk_retries_through_a_429(tmp_path: Path) -> None:
    server = make_server(tmp_path / "data").start()
    try:
        admin_headers = {"Authorization": f"Bearer {TEST_KEY}"}
        with httpx.Client(base_url=server.url, headers=admin_headers, timeout=30) as admin:
            # One token every 2 s: once drained, the very next request is refused (a refill
            # would have to land in the few milliseconds between the two calls).
            tenant = make_tenant(admin, "sdk", max_requests_per_1_minute=30)
            drained = 0
            while admin.get("/v1/files", headers=tenant.headers).status_code != 429:
                drained += 1
                assert drained <= 60, "the bucket never ran dry"
            statuses: list[int] = []
            http_client = httpx.Client(
                event_hooks={"response": [lambda r: statuses.append(r.status_code)]}
            )
            sdk = openai.OpenAI(
                base_url=server.base_url, api_key=tenant.key, http_client=http_client
            )
            page = sdk.files.list()  # default max_retries=2, honours Retry-After
            assert page.data == []
            assert statuses[0] == 429 and statuses[-1] == 200, statuses
            http_client.close()
            # The SDK's `project=` becomes the OpenAI-Project header: checked against the key.
            with openai.OpenAI(
                base_url=server.base_url, api_key=TEST_KEY, max_retries=0
            ) as admin_key:
                assert admin_key.with_options(project="proj_default").files.list().data == []
                with pytest.raises(openai.AuthenticationError) as refused:
                    admin_key.with_options(project=tenant.project_id).files.list()
            assert refused.value.code == "mismatched_project"
    finally:
        server.stop()
