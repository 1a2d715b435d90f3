"""How the client commands print: tables, progress (bar or plain lines), validation reports."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from filedock.client import ProgressCallback


def listing(list_page: Callable[[str | None], Any], limit: int | None, after: str | None) -> Any:
    """`(items, has_more)` of an `ls`: one page with --limit, else every page from `after` on.

    `list_page(after)` fetches one page (an object with `data` and `has_more`).
    """
    page = list_page(after)
    if limit is not None:
        return page.data, page.has_more
    items = list(page.data)
    while page.has_more and page.data:
        page = list_page(page.data[-1].id)
        items.extend(page.data)
    return items, False


def list_json(objects: list[dict[str, Any]], has_more: bool) -> str:
    """A listing printed as the API's list object."""
    return json.dumps(
        {
            "object": "list",
            "data": objects,
            "first_id": objects[0]["id"] if objects else None,
            "last_id": objects[-1]["id"] if objects else None,
            "has_more": has_more,
        }
    )


class PlainProgress:
    """Progress as plain lines (stderr is not a terminal): start, each quarter, end."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._step = -1
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int | None) -> None:
        with self._lock:
            step = 4 if not total else min(4, done * 4 // total)
            if step > self._step:
                self._step = step
                shown = f"{done}/{total}" if total is not None else str(done)
                pct = f" {step * 25}%" if total else ""
                click.echo(f"{self.label}:{pct} {shown} bytes", err=True)


@contextmanager
def progress(label: str, enabled: bool) -> Iterator[ProgressCallback | None]:
    """A live bar (bytes, rate, ETA) on a terminal; plain lines otherwise."""
    if not enabled:
        yield None
        return
    if not sys.stderr.isatty():
        yield PlainProgress(label)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


DETAILS_WIDTH = 40


def truncate(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell, two spaces apart; the last column is not padded."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


_REPORT_FIELDS = ("purpose", "verdict", "status", "summary", "status_details", "format", "lines")


def render_report(report: dict[str, Any]) -> str:
    """A readable rendering of a validation report; unknown shapes fall back to JSON."""
    lines: list[str] = []
    for key in _REPORT_FIELDS:
        # A field the report leaves empty (e.g. no format for a batch file) is not printed.
        if report.get(key) is not None and not isinstance(report[key], dict | list):
            lines.append(f"{key}: {report[key]}")
    stats = report.get("stats")
    if isinstance(stats, dict):
        for key, value in stats.items():
            if isinstance(value, dict):
                value = ", ".join(f"{k} {v}" for k, v in value.items())
            lines.append(f"{key}: {value}")
    for kind in ("errors", "warnings"):
        items = report.get(kind)
        if not isinstance(items, list):
            continue
        count = report.get(f"{kind[:-1]}_count", len(items))
        lines.append(f"{kind} ({count}):")
        for item in items:
            if isinstance(item, dict):
                where = f"line {item['line']}" if item.get("line") is not None else "file"
                code = f"[{item['code']}] " if item.get("code") else ""
                lines.append(f"  {where}: {code}{item.get('message', json.dumps(item))}")
            else:
                lines.append(f"  {item}")
        if isinstance(count, int) and count > len(items):
            lines.append(f"  ... {count - len(items)} more")
    return "\n".join(lines) if lines else json.dumps(report, indent=2)
