"""Docs stay true: docs/settings.md is generated from the settings registry, and `serve --help`
names every setting. Regenerate the table with `python -m tests.test_docs`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from filedock.cli import main
from filedock.settings import MiB, describe

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_MD = ROOT / "docs" / "settings.md"

HEADER = """# Settings

Every setting of `filedock serve`: a command-line flag, or the environment variable beside it
(flags win). Sizes take bytes or a unit (`512MiB`, `200MB`); booleans take `true`/`false`,
`1`/`0`, `yes`/`no`, `on`/`off`. Secrets are masked in logs and `repr`.

This table is generated from `filedock.settings.describe()`; `tests/test_docs.py` fails when it
drifts. Regenerate it with `python -m tests.test_docs`.

| setting | flag | environment variable | default | meaning |
|---|---|---|---|---|
"""


def _default(row: dict[str, Any]) -> str:
    value = row["default"]
    if row["secret"]:
        return "(none)" if not value else "(set, masked)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if value == "":
        return "(empty)"
    if isinstance(value, int) and value >= MiB and value % MiB == 0:
        return f"`{value}` ({value // MiB} MiB)"
    return f"`{value}`"


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    lines = [
        f"| `{row['name']}` | `--{row['name'].replace('_', '-')}` | `{row['env']}` | "
        f"{_default(row)} | {_escape(row['help'])} |"
        for row in describe()
    ]
    return HEADER + "\n".join(lines) + "\n"


def test_settings_md_is_generated_from_the_registry() -> None:
    assert SETTINGS_MD.read_text() == render(), (
        "docs/settings.md is stale: python -m tests.test_docs"
    )


def test_every_setting_is_in_settings_md() -> None:
    text = SETTINGS_MD.read_text()
    for row in describe():
        assert f"`{row['env']}`" in text, row["name"]
        assert f"`--{row['name'].replace('_', '-')}`" in text, row["name"]


def test_every_setting_is_in_serve_help() -> None:
    result = CliRunner().invoke(main, ["serve", "--help"], terminal_width=400)
    assert result.exit_code == 0, result.output
    for row in describe():
        assert f"--{row['name'].replace('_', '-')}" in result.output, row["name"]
        assert row["env"] in result.output, row["name"]
        assert row["help"].split(" (")[0].rstrip(".") in " ".join(result.output.split()), row[
            "name"
        ]


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+\.md)(#[^)\s]*)?\)")
NAMED_MD = re.compile(r"`([A-Za-z0-9_./-]+\.md)`")


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def test_links_and_named_docs_exist() -> None:
    for doc in DOCS:
        text = doc.read_text()
        for target, anchor in LINK.findall(text):
            path = (doc.parent / target).resolve()
            assert path.exists(), f"{doc.name} links to {target}, which is not in the repo"
            if anchor:
                assert anchor[1:] in _anchors(path), f"{doc.name}: no {anchor} in {target}"
        for named in NAMED_MD.findall(text):
            found = (doc.parent / named).exists() or (ROOT / named).exists()
            assert found or list(ROOT.rglob(Path(named).name)), f"{doc.name} names {named}"


def test_api_md_says_what_openai_project_does() -> None:
    text = " ".join((ROOT / "docs" / "api.md").read_text().split())
    ignored = text.split("are ignored")[0].rsplit("Headers", 1)[-1]
    assert "OpenAI-Project" not in ignored
    assert "mismatched_project" in text


if __name__ == "__main__":
    SETTINGS_MD.write_text(render())
    print(f"wrote {SETTINGS_MD}")
