"""Released migrations are frozen: each revision builds the schema it built when it shipped.

A database deployed at any revision upgrades through the same steps as a new one, so the schema
after every step is compared, on each backend, with the one checked in next to this file
(tables and column order, types, defaults, keys, indexes, triggers, trigger functions). The
scripts share column builders (migrations/ddl.py): an edit there changes old revisions too, and
fails here. A new revision adds itself to REVISIONS and its section to both files, printed by
`python -m tests.contracts.test_migration_history URL` on a new empty database.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from filedock.metadata import migrate
from tests.contracts import metadata_common as common
from tests.contracts.metadata_common import Backend

# The same SQLite/PostgreSQL parametrisation as every contract suite.
backend = common.backend

# The chain in upgrade order (0003 follows 0004).
REVISIONS = ("0001", "0002", "0004", "0003", "0005", "0006")
EXPECTED = Path(__file__).with_name("schema_history")

POSTGRES_CATALOG = (
    "SELECT table_name, ordinal_position, column_name, data_type, is_nullable, column_default, "
    "is_identity, identity_generation FROM information_schema.columns "
    "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
    "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1",
    "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1",
    "SELECT proname, pg_get_functiondef(oid) FROM pg_proc "
    "WHERE pronamespace = 'public'::regnamespace ORDER BY 1",
)


def schema(url: str) -> list[str]:
    """The schema as one line per table, column, constraint, index, trigger and function."""
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
            query = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name"
            return [repr(row) for row in db.execute(query)]
    import psycopg

    with psycopg.connect(url, autocommit=True) as pg:
        return [repr(row) for query in POSTGRES_CATALOG for row in pg.execute(query)]


def history(url: str) -> str:
    """The schema after each revision, upgrading `url` (a new empty database) step by step."""
    sections = []
    for revision in REVISIONS:
        migrate.upgrade(url, revision)
        sections.append("\n".join([f"-- after {revision}", *schema(url)]))
    return "\n".join(sections) + "\n"


def test_each_revision_builds_the_schema_it_shipped_with(backend: Backend) -> None:
    expected = (EXPECTED / f"{backend.name}.txt").read_text()
    assert history(backend.url) == expected


if __name__ == "__main__":
    sys.stdout.write(history(sys.argv[1]))
