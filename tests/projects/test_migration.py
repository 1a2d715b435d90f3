"""Migrations: 0004 on a database that already holds files; Alembic skipped when at HEAD."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from filedock.metadata import migrate
from tests.services import PostgresServer


def _insert(db: sqlite3.Connection, file_id: str, size: int, deleted_at: int | None) -> None:
    db.execute(
        "INSERT INTO files (id, project_id, purpose, filename, bytes, created_at, status, "
        "sha256, blob_key, deleted_at) VALUES (?, 'proj_default', 'batch', 'a.jsonl', ?, 1, "
        "'processed', '', ?, ?)",
        (file_id, size, file_id, deleted_at),
    )


def test_upgrade_counts_existing_files_and_triggers_follow_changes(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    url = f"sqlite:///{path}"
    migrate.upgrade(url, "0001")
    with sqlite3.connect(path) as db:
        _insert(db, "file-live", 100, None)
        _insert(db, "file-gone", 40, 5)
    migrate.upgrade(url, "head")
    db = sqlite3.connect(path, isolation_level=None)
    try:

        def used() -> int:
            return int(
                db.execute("SELECT used_bytes FROM projects WHERE id = 'proj_default'").fetchone()[
                    0
                ]
            )

        assert used() == 100
        _insert(db, "file-new", 7, None)
        assert used() == 107
        db.execute("UPDATE files SET deleted_at = 9 WHERE id = 'file-live'")
        assert used() == 7
        db.execute("UPDATE files SET deleted_at = 10 WHERE id = 'file-live'")  # already gone
        assert used() == 7
        db.execute("DELETE FROM files WHERE deleted_at IS NOT NULL")  # purging tombstones
        assert used() == 7
        db.execute("DELETE FROM files WHERE id = 'file-new'")
        assert used() == 0
    finally:
        db.close()


def test_head_constant_is_the_newest_migration_script() -> None:
    # upgrade() skips Alembic when the stored revision equals HEAD: a new script must bump it.
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(migrate.alembic_config("sqlite:///unused"))
    assert scripts.get_heads() == [migrate.HEAD]


def _imports_alembic_at_start(url: str) -> bool:
    """Whether upgrade() on `url` imports Alembic or SQLAlchemy (in a fresh interpreter)."""
    code = (
        "import sys; from filedock.metadata import migrate; migrate.upgrade(sys.argv[1]); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'sqlalchemy')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, url], check=True, capture_output=True, text=True
    ).stdout
    return out.strip() != "[]"


def test_upgrade_at_head_skips_alembic_and_behind_runs_it(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    url = f"sqlite:///{path}"
    assert migrate.stored_revisions(url) == set()
    migrate.upgrade(url, "0001")
    assert migrate.stored_revisions(url) == {"0001"}
    migrate.upgrade(url)
    assert migrate.stored_revisions(url) == {migrate.HEAD}
    with sqlite3.connect(path) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"files", "projects", "upload_parts"} <= tables
    # At HEAD, a start does not import Alembic (about 0.4 s).
    assert not _imports_alembic_at_start(url)


@pytest.mark.postgres
def test_upgrade_at_head_skips_alembic_on_postgresql(postgres_server: PostgresServer) -> None:
    url = postgres_server.database()
    assert migrate.stored_revisions(url) == set()
    migrate.upgrade(url, "0001")
    assert migrate.stored_revisions(url) == {"0001"}
    assert _imports_alembic_at_start(url)  # behind: migrated
    assert migrate.stored_revisions(url) == {migrate.HEAD}
    assert not _imports_alembic_at_start(url)
