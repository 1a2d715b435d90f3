"""Docs stay true: docs/settings.md is generated from the settings registry, and `serve --help`
names every setting. Regenerate the table with `python -m tests.test_docs`.
"""

from __future__ import annotations

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


if __name__ == "__main__":
    SETTINGS_MD.write_text(render())
    print(f"wrote {SETTINGS_MD}")
