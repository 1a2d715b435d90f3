"""Every code a validator can report is listed in docs/validation.md and shown by a sample."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent.parent
SOURCES = sorted((ROOT / "src" / "filedock" / "validation").glob("*.py"))
# report.error("code", ...), report.warning("code", ...), ImageProblem("code", ...)
CODE = re.compile(r'(?:\.error|\.warning|ImageProblem)\(\s*"([a-z0-9_]+)"')


def test_every_code_is_documented() -> None:
    codes = {code for path in SOURCES for code in CODE.findall(path.read_text())}
    assert len(codes) > 50  # the pattern still finds the codes
    docs = (ROOT / "docs" / "validation.md").read_text()
    missing = sorted(code for code in codes if f"`{code}`" not in docs)
    assert missing == []


# Limits are shown with small ValidationOptions in test_validators.py rather than huge samples.
SHOWN_IN_TEST_VALIDATORS = {
    "example_too_long",
    "image_too_large",
    "line_too_long",
    "too_many_embedding_inputs",
    "too_many_image_examples",
    "too_many_tasks",
    "too_many_tokens",
}


def test_every_code_has_a_sample_with_its_expected_line() -> None:
    codes = {code for path in SOURCES for code in CODE.findall(path.read_text())}
    shown: set[str] = set()
    for path in (ROOT / "tests" / "validation" / "corpus").glob("*/*.expected.json"):
        expected = json.loads(path.read_text())
        shown |= {code for _, code in expected["errors"] + expected["warnings"]}
    tests = (ROOT / "tests" / "validation" / "test_validators.py").read_text()
    assert all(f'"{code}"' in tests for code in SHOWN_IN_TEST_VALIDATORS)
    assert sorted(codes - shown - SHOWN_IN_TEST_VALIDATORS) == []
