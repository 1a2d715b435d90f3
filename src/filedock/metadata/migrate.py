"""Schema migrations with Alembic: the same revisions run on every supported database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url))
    return config


def sqlalchemy_url(database_url: str) -> str:
    """Our URLs (`sqlite:///path`, `postgresql://...`) in SQLAlchemy's dialect+driver form."""
    if database_url.startswith("postgresql://") or database_url.startswith("postgres://"):
        return "postgresql+psycopg://" + database_url.split("://", 1)[1]
    return database_url


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database to `revision` (blocking; run it in a thread from async code)."""
    command.upgrade(alembic_config(database_url), revision)
