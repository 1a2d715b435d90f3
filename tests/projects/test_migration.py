"""Migration 0004 on a database that already holds files: usage starts from what is stored."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from filedock.metadata import migrate


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
