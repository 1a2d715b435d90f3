"""A server start imports only what serving needs (see docs/benchmarks.md, cold start)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from filedock.metadata import migrate

# Each costs tens of milliseconds (Alembic + SQLAlchemy about 0.4 s) and none is needed to serve.
HEAVY = (
    "alembic",
    "sqlalchemy",
    "httpx",
    "tiktoken",
    "PIL",
    "pypdf",
    "docx",
    "pptx",
    "boto3",
    "psycopg",
)

CODE = """
import asyncio, sys
from pathlib import Path
import filedock.cli  # what `python -m filedock serve` imports
from filedock.settings import Settings
from filedock.web.app import create_app

async def start() -> None:
    app = create_app(Settings(data_dir=Path(sys.argv[1]), api_key="sk-test-cold-start-key-0123"))
    async with app.router.lifespan_context(app):
        pass

asyncio.run(start())
print(",".join(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2].split(",")))))
"""


def test_serving_an_existing_data_folder_imports_nothing_heavy(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    migrate.upgrade(f"sqlite:///{data / 'filedock.sqlite3'}")
    out = subprocess.run(
        [sys.executable, "-c", CODE, str(data), ",".join(HEAVY)],
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "", out.stdout
