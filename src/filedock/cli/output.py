"""How the client commands print: listings (and the options of an `ls`), objects, tables, progress
(bar or plain lines), validation reports."""

from __future__ import annotations

import functools
import json
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import click

from filedock.client import ProgressCallback

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def echo_object(obj: Any, as_json: bool, quiet: bool) -> bool:
    """Print an API object's id (-q) or its JSON (--json); False when the command is to print
    it its own way."""
    if quiet:
        click.echo(obj.id)
    elif as_json:
        click.echo(json.dumps(obj.to_dict()))
    return quiet or as_json


@dataclass(frozen=True)
class Listing:
    """The options of an `ls` (--limit, --after, --json, -q), given to the command as one."""

    limit: int | None
    after: str | None
    as_json: bool
    quiet: bool

    def fetch(self, list_page: Callable[[str | None], Any]) -> tuple[list[Any], bool]:
        """`(items, has_more)`: one page with --limit, else every page from --after on.

        `list_page(after)` fetches one page (an object with `data` and `has_more`).
        """
        page = list_page(self.after)
        if self.limit is not None:
            return page.data, page.has_more
        items = list(page.data)
        while page.has_more and page.data:
            page = list_page(page.data[-1].id)
            items.extend(page.data)
        return items, False

    def echo(self, items: list[Any], has_more: bool) -> bool:
        """Print the listing as the API's list object (--json) or as ids (-q); False when the
        command is to print it its own way."""
        if self.as_json:
            objects = [item.to_dict() for item in items]
            click.echo(
                json.dumps(
                    {
                        "object": "list",
                        "data": objects,
                        "first_id": objects[0]["id"] if objects else None,
                        "last_id": objects[-1]["id"] if objects else None,
                        "has_more": has_more,
                    }
                )
            )
        elif self.quiet:
            for item in items:
                click.echo(item.id)
        return self.as_json or self.quiet


def list_options(plural: str, singular: str, *after_limit: Decorator) -> Decorator:
    """The options of an `ls` of `plural` (with `after_limit` shown after --limit), turned
    into the command's `listing` argument."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def command(
            *args: Any,
            limit: int | None,
            after: str | None,
            as_json: bool,
            quiet: bool,
            **kwargs: Any,
        ) -> Any:
            return fn(*args, listing=Listing(limit, after, as_json, quiet), **kwargs)

        options: tuple[Decorator, ...] = (
            click.option(
                "--limit", type=int, help=f"One page of at most this many {plural} (default: all)."
            ),
            *after_limit,
            click.option("--after", help=f"Start after this {singular} id."),
            click.option("--json", "as_json", is_flag=True, help="Print the list object as JSON."),
            click.option("-q", "--quiet", is_flag=True, help=f"Print only {singular} ids."),
        )
        decorated: Callable[..., Any] = command
        for option in reversed(options):
            decorated = option(decorated)
        return decorated

    return decorate


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
