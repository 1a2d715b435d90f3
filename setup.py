"""Builds the sync client from the async source at every build; the rest is in pyproject.toml.

unasync's own `cmdclass_build_py` would turn every module under _async/ into _sync/ (including
concurrency.py, which is written by hand on each side) and does nothing in an editable install,
so this build_py calls the project's generator (scripts/gen_sync_client.py) instead.
"""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "scripts"))

import gen_sync_client  # noqa: E402


class BuildPyWithSyncClient(build_py):
    """build_py, then the generated sync client: into the build folder for a wheel, and into
    src/ for an editable install (PEP 660 exposes src/, not what build_py writes elsewhere)."""

    editable_mode: bool

    def run(self) -> None:
        super().run()
        out = ROOT / "src" if self.editable_mode else Path(self.build_lib)
        gen_sync_client.write_changed(gen_sync_client.client_modules(ROOT, out))


setup(cmdclass={"build_py": BuildPyWithSyncClient})
