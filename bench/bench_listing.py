"""Dashboard listing benchmark: `GET /v1/files` with filedock's list extensions at scale.

Loads N file rows (default 100,000) into one project of a SQLite store (and of a throwaway
PostgreSQL cluster with --postgres), then times one page of 20 through the store for: OpenAI's
default order, `sort=bytes`, `sort=filename`, `search=<substring>`, `search=<exact id>`,
`status=error`, and a `sort=bytes` page deep in the table (`after` = a random row). Prints p50 and
max of --runs runs (milliseconds).

Usage: python bench/bench_listing.py [--rows 100000] [--runs 5] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from filedock.metadata.base import MetadataStore  # noqa: E402
from filedock.metadata.factory import metadata_store_for_url  # noqa: E402
from filedock.models import FileRecord  # noqa: E402

PROJECT = "proj_default"
NOW = 1_700_000_000
WORDS = ["invoice", "report", "notes", "train", "batch", "scan", "deck", "minutes"]


def rows(n: int) -> list[FileRecord]:
    rng = random.Random(1)
    return [
        FileRecord(
            id=f"file-{i:022d}",
            project_id=PROJECT,
            purpose=rng.choice(["user_data", "assistants", "batch", "fine-tune"]),
            filename=f"{rng.choice(WORDS)}-{rng.randrange(10**6)}.txt",
            bytes=rng.randrange(1, 10**9),
            created_at=NOW - n + i,
            expires_at=None,
            status="error" if rng.random() < 0.01 else "processed",
            status_details=None,
            sha256="ab" * 32,
            blob_key=f"blob{i}",
        )
        for i in range(n)
    ]


async def load(store: MetadataStore, records: list[FileRecord]) -> None:
    # Through the store's own insert, in batches run concurrently (the pool bounds them).
    for start in range(0, len(records), 500):
        await asyncio.gather(*(store.insert_file(r) for r in records[start : start + 500]))


async def timed(store: MetadataStore, runs: int, **query: Any) -> tuple[float, float]:
    took = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await store.list_files(
            PROJECT, purpose=None, limit=20, order="desc", after=query.pop("after", None),
            now=NOW, **query,
        )  # fmt: skip
        took.append((time.perf_counter() - t0) * 1000)
    return statistics.median(took), max(took)


async def bench(url: str, n: int, runs: int) -> None:
    store = metadata_store_for_url(url)
    await store.open()
    try:
        records = rows(n)
        t0 = time.perf_counter()
        await load(store, records)
        print(f"  loaded {n} rows in {time.perf_counter() - t0:.0f} s")
        if url.startswith("postgresql"):
            import psycopg

            # As autovacuum would soon after a bulk load: planner statistics for the new rows.
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute("ANALYZE files")
        deep = random.Random(2).choice(records).id
        cases: list[tuple[str, dict[str, Any]]] = [
            ("default order (created_at)", {}),
            ("sort=bytes", {"sort": "bytes"}),
            ("sort=filename", {"sort": "filename"}),
            ("search=invoice (substring)", {"search": "invoice"}),
            ("search=<exact id>", {"search": deep}),
            ("status=error", {"status": "error"}),
            ("sort=bytes, after=<random row>", {"sort": "bytes", "after": deep}),
        ]
        for label, query in cases:
            p50, worst = await timed(store, runs, **query)
            print(f"  {label:34s} p50 {p50:7.1f} ms   max {worst:7.1f} ms")
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"SQLite, {args.rows} files in one project, pages of 20:")
        asyncio.run(bench(f"sqlite:///{tmp}/meta.sqlite3", args.rows, args.runs))
    if args.postgres:
        from tests.services import start_postgres

        server = start_postgres()
        try:
            print(f"PostgreSQL, {args.rows} files in one project, pages of 20:")
            asyncio.run(bench(server.database(), args.rows, args.runs))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
