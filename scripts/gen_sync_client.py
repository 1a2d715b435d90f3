"""Generate the sync client from the async source with unasync; `--check` fails when it is stale.

    python scripts/gen_sync_client.py          # rewrite src/filedock/client/_sync/*.py
    python scripts/gen_sync_client.py --check  # exit 1 if it is stale (make lint; a test)

The async code in src/filedock/client/_async/ (and its tests in tests/client/_async/) is the one
source; the generated files are formatted with ruff so they pass the same gates as hand-written
code.
"""

from __future__ import annotations

import argparse
import difflib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import unasync

ROOT = Path(__file__).resolve().parent.parent
# (async folder, sync folder, generated modules): the client (concurrency.py is written by hand
# on each side) and its tests, so both clients pass the same tests.
TWINS = (
    ("src/filedock/client", ("client.py", "files.py")),
    ("tests/client", ("test_files.py", "test_uploads.py", "test_batches.py")),
)
HEADER = "# GENERATED from {source} by scripts/gen_sync_client.py: do not edit.\n"
REPLACEMENTS = {
    "_async": "_sync",
    "AsyncFilesClient": "FilesClient",
    "AsyncFiles": "Files",
    "AsyncUploads": "Uploads",
    "AsyncBatches": "Batches",
    "AsyncClient": "Client",
    "AsyncBaseTransport": "BaseTransport",
    "aclose": "close",
    "aread": "read",
    "aiter_bytes": "iter_bytes",
    "AsyncOpenAI": "OpenAI",
    "AsyncHTTPTransport": "HTTPTransport",
    "handle_async_request": "handle_request",
}


def generate(source: Path, target: Path) -> str:
    """The sync module's text, as it should be on disk."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "_async" / source.name
        copy.parent.mkdir()
        shutil.copyfile(source, copy)
        rule = unasync.Rule("/_async/", "/_sync/", additional_replacements=REPLACEMENTS)
        unasync.unasync_files([str(copy)], [rule])
        text = (Path(tmp) / "_sync" / source.name).read_text()
    text = HEADER.format(source=source.relative_to(ROOT)) + text
    # Renamed imports are sorted again and the shorter lines re-wrapped, as ruff would.
    text = _ruff(text, target, "check", "--fix", "--select", "I", "--quiet")
    return _ruff(text, target, "format")


def _ruff(text: str, target: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--stdin-filename", str(target), "-"],
        input=text,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the generated file is stale")
    args = parser.parse_args()
    stale = 0
    pairs = [
        (ROOT / folder / "_async" / name, ROOT / folder / "_sync" / name)
        for folder, names in TWINS
        for name in names
    ]
    for source, target in pairs:
        expected = generate(source, target)
        current = target.read_text() if target.exists() else ""
        if current == expected:
            continue
        if not args.check:
            target.write_text(expected)
            continue
        stale += 1
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            str(target),
            "generated",
        )
        sys.stderr.write("".join(diff))
        sys.stderr.write(f"{target} is stale: run `python scripts/gen_sync_client.py`\n")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
