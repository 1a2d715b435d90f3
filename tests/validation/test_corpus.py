"""Every sample under corpus/<purpose>/ gives its expected report (codes and line numbers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from filedock.validation import validate

CORPUS = Path(__file__).parent / "corpus"
SAMPLES = sorted(
    p for p in CORPUS.glob("*/*") if p.is_file() and not p.name.endswith(".expected.json")
)


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_corpus_is_there() -> None:
    purposes = {p.parent.name for p in SAMPLES}
    assert purposes == {"fine-tune", "batch", "evals", "vision", "assistants"}


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("chunk_size", [7, 1 << 20])
def test_sample(path: Path, chunk_size: int) -> None:
    expected = json.loads(path.with_name(path.name + ".expected.json").read_text())
    data = path.read_bytes()
    report = validate(path.parent.name, path.name, chunks(data, chunk_size))
    body = report.to_json()
    assert body["verdict"] == expected["verdict"], body
    assert [[e["line"], e["code"]] for e in body["errors"]] == expected["errors"], body
    assert [[w["line"], w["code"]] for w in body["warnings"]] == expected["warnings"], body
    if "format" in expected:
        assert body["format"] == expected["format"]
    for key, value in expected.get("stats", {}).items():
        assert body["stats"][key] == value, body["stats"]
    if body["verdict"] == "invalid":
        details = report.status_details()
        assert details is not None and details.startswith("Invalid file format. ")
        first = body["errors"][0]
        if first["line"] is not None:
            assert f"Line {first['line']}: " in details
    else:
        assert report.status_details() is None
