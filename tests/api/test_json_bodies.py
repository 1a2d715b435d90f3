"""Every JSON endpoint reads its body through one reader: whatever a client sends is a 400
envelope naming the field, never a 5xx (in process, the real app)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from filedock.settings import Settings
from filedock.web import create_app
from tests.conftest import AUTH

PROJECTS = "/v1/organization/projects"
DEEP = b"[" * 5000 + b"]" * 5000
DEEP_OBJECT = b'{"a":' * 5000 + b"1" + b"}" * 5000


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    """The real app with rate limits out of the way (the property tests send many requests)."""
    roomy = settings.replace(requests_per_minute=1_000_000, uploads_per_minute=1_000_000)
    with TestClient(create_app(roomy), headers=AUTH, raise_server_exceptions=False) as c:
        yield c


def json_endpoints(client: TestClient) -> list[str]:
    """One URL per JSON endpoint, with real ids in the paths."""
    upload = client.post(
        "/v1/uploads",
        json={"filename": "a.bin", "purpose": "user_data", "bytes": 3, "mime_type": "x/y"},
    ).json()["id"]
    project = client.post(PROJECTS, json={"name": "p"}).json()["id"]
    return [
        "/v1/uploads",
        f"/v1/uploads/{upload}/complete",
        PROJECTS,
        f"{PROJECTS}/{project}",
        f"{PROJECTS}/{project}/api_keys",
    ]


def bad_request(response: Any) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == "invalid_request_error"
    return body["error"]


@pytest.mark.parametrize("raw", [DEEP, DEEP_OBJECT], ids=["arrays", "objects"])
def test_deep_nesting_is_a_400_on_every_json_endpoint(app_client: TestClient, raw: bytes) -> None:
    for url in json_endpoints(app_client):
        error = bad_request(
            app_client.post(url, content=raw, headers={"Content-Type": "application/json"})
        )
        assert "JSON" in error["message"], url


def test_deep_nesting_inside_a_field_is_a_400(app_client: TestClient) -> None:
    for url in json_endpoints(app_client):
        raw = b'{"name":' + DEEP + b', "filename":' + DEEP + b"}"
        response = app_client.post(url, content=raw, headers={"Content-Type": "application/json"})
        bad_request(response)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("storage_quota_bytes", 2**63),
        ("storage_quota_bytes", 10**30),
        ("max_requests_per_1_minute", 2**63),
        ("max_uploads_per_1_minute", 2**64 + 1),
        ("storage_quota_bytes", -(2**63) - 1),
    ],
)
def test_integers_a_database_cannot_hold_are_a_400_naming_the_field(
    app_client: TestClient, field: str, value: int
) -> None:
    error = bad_request(app_client.post(PROJECTS, json={"name": "big", field: value}))
    assert error["param"] == field
    assert str(value) in error["message"]
    project = app_client.post(PROJECTS, json={"name": "ok"}).json()["id"]
    error = bad_request(app_client.post(f"{PROJECTS}/{project}", json={field: value}))
    assert error["param"] == field
    # The largest value a column holds is accepted.
    largest = app_client.post(f"{PROJECTS}/{project}", json={field: 2**63 - 1})
    assert largest.status_code == 200, largest.text
    assert largest.json()[field] == 2**63 - 1


def test_an_expiry_past_the_largest_integer_is_a_400(app_client: TestClient) -> None:
    project = app_client.post(PROJECTS, json={"name": "k"}).json()["id"]
    error = bad_request(
        app_client.post(f"{PROJECTS}/{project}/api_keys", json={"expires_at": 2**63})
    )
    assert error["param"] == "expires_at"
    far = app_client.post(f"{PROJECTS}/{project}/api_keys", json={"expires_at": 2**63 - 1})
    assert far.status_code == 200, far.text


@pytest.mark.parametrize(
    ("url", "body", "param", "message"),
    [
        (PROJECTS, {"name": 5}, "name", "5 is not of type 'string' - 'name'"),
        (PROJECTS, {}, "name", "'name' is a required property"),
        (
            PROJECTS,
            {"name": "x", "storage_quota_bytes": "1GB"},
            "storage_quota_bytes",
            "\"1GB\" is not of type 'integer' - 'storage_quota_bytes'",
        ),
        (
            PROJECTS,
            {"name": "x", "max_requests_per_1_minute": True},
            "max_requests_per_1_minute",
            "true is not of type 'integer' - 'max_requests_per_1_minute'",
        ),
        (
            PROJECTS,
            {"name": "x", "colour": "red"},
            "colour",
            "Additional properties are not allowed ('colour' was unexpected)",
        ),
    ],
)
def test_admin_field_errors_name_the_field(
    app_client: TestClient, url: str, body: dict[str, Any], param: str, message: str
) -> None:
    error = bad_request(app_client.post(url, json=body))
    assert (error["param"], error["message"]) == (param, message)


def test_bodies_that_are_not_json_objects(app_client: TestClient) -> None:
    for url in json_endpoints(app_client):
        for raw in [b"[]", b"5", b'"x"', b"null", b"{", b"\xff\xfe", b'{"a": NaN}']:
            bad_request(
                app_client.post(url, content=raw, headers={"Content-Type": "application/json"})
            )
    too_big = b'{"name": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    error = bad_request(app_client.post("/v1/uploads", content=too_big))
    assert "larger than" in error["message"]
    error = bad_request(app_client.post(PROJECTS, content=too_big))
    assert "larger than" in error["message"]


def test_an_empty_order_is_a_bad_value_like_any_other(app_client: TestClient) -> None:
    empty = bad_request(app_client.get("/v1/files?order="))
    other = bad_request(app_client.get("/v1/files?order=sideways"))
    assert empty["param"] == other["param"] == "order"
    assert empty["message"] == "'' is not one of ['asc', 'desc'] - 'order'"
    assert app_client.get("/v1/files?order=asc").status_code == 200
    assert app_client.get("/v1/files").status_code == 200


# Property tests: random bodies and query strings never give a 5xx ---------------------------
FIELDS = [
    "filename",
    "purpose",
    "bytes",
    "mime_type",
    "expires_after",
    "anchor",
    "seconds",
    "part_ids",
    "md5",
    "name",
    "role",
    "expires_at",
    "storage_quota_bytes",
    "max_requests_per_1_minute",
    "max_uploads_per_1_minute",
]
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["created_at", "user_data", "batch", "a.jsonl", "admin", "x/y"])
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=8), values, max_size=6)


def _encode(value: Any) -> bytes:
    return json.dumps(value).encode()  # ASCII escapes: lone surrogates arrive as \\udXXX


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(bodies.map(_encode), values.map(_encode), st.binary(max_size=64)),
    which=st.integers(min_value=0, max_value=4),
)
def test_random_json_bodies_never_give_a_5xx(
    app_client: TestClient, body: bytes, which: int
) -> None:
    urls = getattr(app_client, "json_urls", None)
    if urls is None:
        urls = json_endpoints(app_client)
        app_client.json_urls = urls  # type: ignore[attr-defined]
    response = app_client.post(
        urls[which], content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code < 500, (urls[which], body, response.text)
    if response.status_code >= 400:
        bad = response.json()["error"]
        assert set(bad) == {"message", "type", "param", "code"}


query_values = st.text(max_size=12) | st.sampled_from(["", "asc", "desc", "-1", "0", "1e3", "10"])


@hypothesis_settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(["limit", "order", "after", "purpose", "include_archived"])
        | st.text(max_size=6),
        query_values,
        max_size=4,
    ),
    url=st.sampled_from(["/v1/files", PROJECTS]),
)
def test_random_query_strings_never_give_a_5xx(
    app_client: TestClient, params: dict[str, str], url: str
) -> None:
    response = app_client.get(url, params=params)
    assert response.status_code < 500, (url, params, response.text)
    assert response.status_code in (200, 400), response.text
