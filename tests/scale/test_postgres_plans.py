"""PostgreSQL specifics: indexes behind listings and lookups; concurrent migrations."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from filedock.metadata import migrate
from filedock.metadata.db_postgres import to_pyformat
from filedock.metadata.files import GET_SQL, page_sql
from filedock.metadata.rows import Order
from tests.services import PostgresServer

pytestmark = pytest.mark.postgres

ROWS = 20_000
NOW = 1_700_000_000


def plan(conn: object, sql: str, params: tuple[object, ...]) -> str:
    rows = conn.execute("EXPLAIN " + sql, params).fetchall()  # type: ignore[attr-defined]
    return "\n".join(r[0] for r in rows)


def test_list_and_retrieve_use_indexes(postgres_server: PostgresServer) -> None:
    import psycopg

    url = postgres_server.database()
    migrate.upgrade(url)
    columns = (
        "id, project_id, purpose, filename, bytes, created_at, expires_at, status, "
        "status_details, sha256, blob_key"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        data = io.StringIO()
        for i in range(ROWS):
            project = "proj_default" if i % 2 else "proj_other"
            data.write(
                f"file-{i:022d}\t{project}\tbatch\tf.jsonl\t1\t{NOW + i // 3}\t\\N\tprocessed\t"
                f"\\N\t{'ab' * 32}\t{i:032x}\n"
            )
        with conn.cursor() as cur, cur.copy(f"COPY files ({columns}) FROM STDIN") as copy:
            copy.write(data.getvalue())
        conn.execute("ANALYZE files")
        retrieve = plan(
            conn,
            to_pyformat(GET_SQL),
            ("file-0000000000000000000101", "proj_default", NOW),
        )
        assert "Index Scan" in retrieve, retrieve
        orders: tuple[Order, ...] = ("desc", "asc")
        for order in orders:
            listing = plan(
                conn,
                to_pyformat(page_sql(order, purpose=False, after=True)),
                ("proj_default", NOW, NOW + 3000, 9000, 101),
            )
            assert "files_project_order" in listing and "Sort" not in listing, listing


def test_servers_starting_at_once_migrate_once(postgres_server: PostgresServer) -> None:
    # Separate processes, as separate servers are (Alembic's context is process-global), released
    # together once all are ready. Without the advisory lock in migrations/env.py, rivals collide
    # on CREATE TABLE.
    url = postgres_server.database()
    code = (
        "import sys; from filedock.metadata import migrate; "
        "print('ready', flush=True); sys.stdin.readline(); migrate.upgrade(sys.argv[1])"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(4)
    ]
    for run in runs:
        assert run.stdout is not None and run.stdout.readline() == b"ready\n"
    for run in runs:
        assert run.stdin is not None
        run.stdin.write(b"go\n")
        run.stdin.flush()
    outputs = [run.communicate(timeout=120)[0].decode(errors="replace") for run in runs]
    assert [run.returncode for run in runs] == [0] * 4, outputs
