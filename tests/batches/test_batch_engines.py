"""Engines: FILEDOCK_ENGINES_FILE routes models (names or globs) to engines with their own key,
headers and concurrency; the default engine takes the models its GET /models lists."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from filedock.services.engines import load_engines, retry_after_seconds
from filedock.settings import Settings, SettingsError
from tests.batches.conftest import AppFactory, create, jsonl, request_line, upload, wait_for
from tests.batches.stub_engine import Reply, StubEngine


@pytest.fixture
def alpha() -> Iterator[StubEngine]:
    engine = StubEngine(models=(), script=lambda request, seen: Reply(delay=0.03)).start()
    try:
        yield engine
    finally:
        engine.stop()


def test_models_go_to_their_engine(
    make_client: AppFactory,
    stub: StubEngine,
    alpha: StubEngine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ALPHA_KEY", "alpha-secret")
    engines = tmp_path / "engines.toml"
    engines.write_text(
        f'[engines.alpha]\nurl = "{alpha.url}"\napi_key_env = "ALPHA_KEY"\n'
        'models = ["alpha-*"]\nmax_concurrency = 2\nheaders = { "X-Tenant" = "batch" }\n'
    )
    client = make_client(engines_file=str(engines))
    to_alpha = create(
        client, upload(client, jsonl([request_line(f"a{i}", model="alpha-1") for i in range(8)]))
    )
    to_default = create(client, upload(client, jsonl([request_line("d", model="stub-model")])))
    unknown = create(client, upload(client, jsonl([request_line("u", model="beta")])))
    assert wait_for(client, to_alpha["id"])["status"] == "completed"
    assert wait_for(client, to_default["id"])["status"] == "completed"
    failed = wait_for(client, unknown["id"])
    assert failed["status"] == "failed"
    assert failed["errors"]["data"][0]["code"] == "model_not_found"
    assert sorted(alpha.counts()) == [f"a{i}" for i in range(8)]
    assert alpha.max_in_flight == 2  # the engine's own limit
    assert {r.headers["Authorization"] for r in alpha.received} == {"Bearer alpha-secret"}
    assert {r.headers["X-Tenant"] for r in alpha.received} == {"batch"}
    assert list(stub.counts()) == ["d"]


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("[engines.x\n", "FILEDOCK_ENGINES_FILE"),
        ("[other]\n", "at least one [engines.<name>]"),
        ('[engines.x]\nurl = "ftp://h"\n', "engines.x.url"),
        ('[engines.x]\nurl = "http://h/v1"\nmodel = "m"\n', "unknown keys ['model']"),
        ('[engines.x]\nurl = "http://h/v1"\nmodels = "m"\n', "engines.x.models"),
        ('[engines.x]\nurl = "http://h/v1"\nheaders = { "X" = "a\\r\\nY: b" }\n', "line break"),
    ],
)
def test_a_bad_engines_file_names_the_setting(tmp_path: Path, text: str, fault: str) -> None:
    path = tmp_path / "engines.toml"
    path.write_text(text)
    with pytest.raises(SettingsError, match="FILEDOCK_ENGINES_FILE") as raised:
        load_engines(Settings(engines_file=str(path)))
    assert fault in str(raised.value)


def test_engine_order_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "engines.toml"
    path.write_text('[engines.b]\nurl = "http://b/v1/"\n[engines.a]\nurl = "http://a/v1"\n')
    settings = Settings(
        engines_file=str(path), engine_url="http://d/v1", batch_concurrency=7, engine_api_key="k"
    )
    engines = load_engines(settings)
    assert [(e.name, e.url, e.max_concurrency) for e in engines] == [
        ("b", "http://b/v1", 7),
        ("a", "http://a/v1", 7),
        ("default", "http://d/v1", 7),
    ]
    assert engines[-1].api_key == "k" and engines[-1].models is None


def test_retry_after_forms() -> None:
    now = 1_700_000_000.0
    assert retry_after_seconds({"retry-after": "2.5"}, now) == 2.5
    assert retry_after_seconds({"retry-after-ms": "150"}, now) == 0.15
    date = "Tue, 14 Nov 2023 22:13:30 GMT"  # now + 10 s
    assert retry_after_seconds({"retry-after": date}, now) == 10.0
    assert retry_after_seconds({"retry-after": "soon"}, now) is None
    assert retry_after_seconds({}, now) is None
