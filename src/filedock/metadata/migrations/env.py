"""Alembic environment: run migrations online against the configured URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

config = context.config

# Several servers may start at once against one PostgreSQL database: a transaction-scoped
# advisory lock makes them apply migrations one after another (the later ones find nothing to do).
MIGRATION_LOCK_ID = 0x66696C65646F636B  # "filedock"


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, render_as_batch=url.startswith("sqlite"))
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
            context.run_migrations()
    engine.dispose()


run_migrations_online()
