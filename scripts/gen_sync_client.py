"""Generate the sync client from the async source with unasync; `--check` fails when it is stale.

    python scripts/gen_sync_client.py          # write the sync client and its tests
    python scripts/gen_sync_client.py --check  # exit 1 if one is stale or missing (make lint)

The async code in src/filedock/client/_async/ (and its tests in tests/client/_async/) is the one
source. The sync client (src/filedock/client/_sync/client.py, files.py) is a build product:
git-ignored, written by setup.py's build_py at every install (into src/ for an editable install,
into the build folder for a wheel) and by this script, as unasync leaves it: not reformatted, so
its line N is line N - 1 of the async module (a traceback points into the source). ruff skips it;
mypy checks it. The sync tests are committed, formatted with ruff like hand-written code.

setup.py imports this module at build time: it needs unasync (a build requirement), not ruff or
filedock.
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
# The generated client modules (concurrency.py is written by hand on each side), below src/.
CLIENT_PACKAGE = Path("filedock/client")
CLIENT_MODULES = ("client.py", "files.py")
# The generated tests, so both clients pass the same tests.
TESTS = Path("tests/client")
TEST_MODULES = ("test_files.py", "test_uploads.py", "test_batches.py")
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


def unasynced(root: Path, source: Path) -> str:
    """unasync's sync twin of `root / source`, under the header that names its source."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "_async" / source.name
        copy.parent.mkdir()
        shutil.copyfile(root / source, copy)
        rule = unasync.Rule("/_async/", "/_sync/", additional_replacements=REPLACEMENTS)
        unasync.unasync_files([str(copy)], [rule])
        text = (Path(tmp) / "_sync" / source.name).read_text()
    return HEADER.format(source=source.as_posix()) + text


def client_modules(root: Path, out: Path) -> dict[Path, str]:
    """The sync client's modules below `out` (src/, or a build's lib folder) and their text."""
    return {
        out / CLIENT_PACKAGE / "_sync" / name: unasynced(
            root, Path("src") / CLIENT_PACKAGE / "_async" / name
        )
        for name in CLIENT_MODULES
    }


def write_changed(generated: dict[Path, str]) -> None:
    """Write each file whose text differs (an unchanged file keeps its time stamp)."""
    for target, text in generated.items():
        if not target.exists() or target.read_text() != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)


def _test_modules(root: Path) -> dict[Path, str]:
    generated = {}
    for name in TEST_MODULES:
        target = root / TESTS / "_sync" / name
        text = unasynced(root, TESTS / "_async" / name)
        # Renamed imports are sorted again and the shorter lines re-wrapped, as ruff would.
        text = _ruff(text, target, "check", "--fix", "--select", "I", "--quiet")
        generated[target] = _ruff(text, target, "format")
    return generated


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
    parser.add_argument("--check", action="store_true", help="fail if a generated file is stale")
    args = parser.parse_args()
    generated = client_modules(ROOT, ROOT / "src") | _test_modules(ROOT)
    if not args.check:
        write_changed(generated)
        return 0
    stale = 0
    for target, expected in generated.items():
        current = target.read_text() if target.exists() else ""
        if current == expected:
            continue
        stale += 1
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            str(target),
            "generated",
        )
        sys.stderr.write("".join(diff))
        missing = "" if target.exists() else " (missing)"
        sys.stderr.write(
            f"{target} is stale{missing}: run `python scripts/gen_sync_client.py`"
            " (or `pip install -e .`)\n"
        )
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
