"""Hypothesis over POST /v1/files bodies: any mangled multipart is a 200 or a 4xx envelope, never a
5xx, and a refused upload leaves nothing on disk or in the list.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from filedock.settings import Settings
from filedock.web import create_app
from tests.conftest import AUTH
from tests.helpers import TEST_KEY

BOUNDARY = b"fuzzBoundary"
VALID = (
    b"--fuzzBoundary\r\n"
    b'Content-Disposition: form-data; name="purpose"\r\n\r\n'
    b"user_data\r\n"
    b"--fuzzBoundary\r\n"
    b'Content-Disposition: form-data; name="file"; filename="f.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\n"
    b"hello --fuzzBoundar world\r\n"
    b"--fuzzBoundary--\r\n"
)


@pytest.fixture(scope="module")
def fuzz_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    app = create_app(Settings(data_dir=data_dir, api_key=TEST_KEY), background=False)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as client:
        yield client, data_dir


@st.composite
def mangled(draw: st.DrawFn) -> bytes:
    body = bytearray(VALID)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "splice"]))
        at = draw(st.integers(0, max(len(body) - 1, 0)))
        if kind == "flip" and body:
            body[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            body[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif kind == "delete":
            del body[at : at + draw(st.integers(1, 20))]
        elif kind == "truncate":
            del body[at:]
        else:
            body[at:at] = draw(
                st.sampled_from(
                    [
                        b"\r\n--fuzzBoundary\r\n",
                        b'Content-Disposition: form-data; name="purpose"\r\n\r\nbatch',
                        b"; filename*=utf-8''%ff%fe\"",
                        b"\r\n\r\n",
                        b"--fuzzBoundary--",
                    ]
                )
            )
    return bytes(body)


def _leftovers(data_dir: Path, live: int) -> None:
    assert not [p for p in (data_dir / "tmp").iterdir()]
    blobs = [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]
    assert len(blobs) == live


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=mangled())
def test_mangled_bodies_never_5xx(fuzz_client: tuple[TestClient, Path], body: bytes) -> None:
    client, data_dir = fuzz_client
    response = client.post(
        "/v1/files",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=fuzzBoundary"},
    )
    assert response.status_code in (200, 400), (response.status_code, response.text)
    if response.status_code == 400:
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error"
    else:
        assert client.delete(f"/v1/files/{response.json()['id']}").status_code == 200
    _leftovers(data_dir, 0)


@settings(max_examples=60, deadline=None)
@given(
    content_type=st.one_of(
        st.text(
            alphabet=st.characters(min_codepoint=32, max_codepoint=255).filter(
                lambda c: not 0x7F <= ord(c) < 0xA0
            ),
            max_size=60,
        ),
        st.sampled_from(
            [
                "multipart/form-data; boundary=",
                'multipart/form-data; boundary=""',
                "multipart/form-data; boundary=" + "b" * 300,
                "multipart/mixed; boundary=fuzzBoundary",
                "MULTIPART/FORM-DATA; BOUNDARY=fuzzBoundary",
            ]
        ),
    )
)
def test_any_content_type_is_200_or_400(
    fuzz_client: tuple[TestClient, Path], content_type: str
) -> None:
    client, data_dir = fuzz_client
    response = client.post(
        "/v1/files", content=VALID, headers={"Content-Type": content_type.encode("latin-1")}
    )
    assert response.status_code in (200, 400), (response.status_code, response.text)
    if response.status_code == 200:
        assert client.delete(f"/v1/files/{response.json()['id']}").status_code == 200
    _leftovers(data_dir, 0)
