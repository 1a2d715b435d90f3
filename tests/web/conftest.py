"""Browser fixtures: the Debian `chromium` driven by Playwright (never `playwright install`)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services import announce

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """/usr/bin/chromium, installed by scripts/install-browser.sh when missing."""
    if not CHROMIUM.exists():
        announce(
            "Debian's chromium package (scripts/install-browser.sh)",
            "the system (apt-get)",
            "the dashboard tests drive it headless through Playwright",
        )
        result = subprocess.run(
            ["bash", str(REPO / "scripts" / "install-browser.sh")],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if result.returncode != 0 or not CHROMIUM.exists():
            pytest.fail(
                "Chromium is missing and scripts/install-browser.sh failed:\n"
                + result.stdout[-2000:]
                + result.stderr[-2000:]
            )
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # Playwright must not look for (or fetch) its own browsers.
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
