"""Schema migrations with Alembic: the same revisions run on every supported database.

Alembic and SQLAlchemy take about 0.4 s to import, so they are imported only when the schema is
behind: `upgrade` first reads the stored revision with the plain driver and compares it with
`HEAD` (a test holds `HEAD` equal to the newest script in migrations/versions).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# The head of the chain in migrations/versions (not the highest number: 0003 follows 0004).
# A new migration script must set it to its own revision.
HEAD = "0006"


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url))
    return config


def sqlalchemy_url(database_url: str) -> str:
    """Our URLs (`sqlite:///path`, `postgresql://...`) in SQLAlchemy's dialect+driver form."""
    if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
        return "postgresql+psycopg://" + database_url.split("://", 1)[1]
    return database_url


def stored_revisions(database_url: str) -> set[str]:
    """The revisions recorded in `alembic_version` (empty for a new database), read with the
    plain driver (blocking)."""
    query = "SELECT version_num FROM alembic_version"
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        if not Path(path).exists():
            return set()
        conn = sqlite3.connect(path)
        try:
            return {row[0] for row in conn.execute(query)}
        except sqlite3.OperationalError:  # no alembic_version table yet
            return set()
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as pg:
        exists = pg.execute("SELECT to_regclass('alembic_version')").fetchone()
        if exists is None or exists[0] is None:
            return set()
        return {row[0] for row in pg.execute(query)}


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to `revision` (blocking; run it in a thread from async code).

    A database already at HEAD is left alone without importing Alembic.
    """
    if revision in ("head", HEAD) and stored_revisions(database_url) == {HEAD}:
        return
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)
