"""Client commands of `filedock` (upload, ls, get, rm, info, report, wait) on filedock.client.

They talk to any OpenAI-compatible Files server, configured like the official SDK
(OPENAI_BASE_URL, OPENAI_API_KEY) or with --base-url / --api-key.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from filedock.client import (
    APIStatusError,
    FiledockClientError,
    FileObject,
    FilesClient,
    ProgressCallback,
)
from filedock.client._common import (
    DEFAULT_CHUNK_THRESHOLD,
    DEFAULT_PARALLEL_PARTS,
    DEFAULT_PART_SIZE,
)
from filedock.settings import parse_size

F = TypeVar("F", bound=Callable[..., Any])
EXIT_API_ERROR = 1
EXIT_INTERRUPTED = 130


def _connection_options(fn: F) -> F:
    fn = click.option(
        "--api-key",
        envvar="OPENAI_API_KEY",
        show_envvar=True,
        help="API key (Bearer token).",
    )(fn)
    fn = click.option(
        "--base-url",
        envvar="OPENAI_BASE_URL",
        show_envvar=True,
        help="API base URL, e.g. http://127.0.0.1:8000/v1 (the default).",
    )(fn)
    return fn


def _size(ctx: click.Context, param: click.Parameter, value: Any) -> int:
    if isinstance(value, int):
        return value
    try:
        return parse_size(str(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _handle_errors(fn: F) -> F:
    """Server errors print the server's message and exit 1; Ctrl-C exits 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except APIStatusError as exc:
            details = ", ".join(
                f"{k}={v}"
                for k, v in (("type", exc.type), ("param", exc.param), ("code", exc.code))
                if v
            )
            click.echo(
                f"Error: {exc.message} (HTTP {exc.status}{'; ' + details if details else ''})",
                err=True,
            )
            sys.exit(EXIT_API_ERROR)
        except (FiledockClientError, OSError) as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_API_ERROR)
        except KeyboardInterrupt:
            click.echo("Interrupted; pending uploads were cancelled.", err=True)
            sys.exit(EXIT_INTERRUPTED)

    return wrapper  # type: ignore[return-value]


def _client(base_url: str | None, api_key: str | None, **kwargs: Any) -> FilesClient:
    try:
        return FilesClient(base_url, api_key, **kwargs)
    except ValueError as exc:  # out-of-range part size or parallelism
        raise click.UsageError(str(exc)) from exc


def _when(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


class _PlainProgress:
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
def _progress(label: str, enabled: bool) -> Iterator[ProgressCallback | None]:
    """A live bar (bytes, rate, ETA) on a terminal; plain lines otherwise."""
    if not enabled:
        yield None
        return
    if not sys.stderr.isatty():
        yield _PlainProgress(label)
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


def _emit_file(file: FileObject, as_json: bool, quiet: bool) -> None:
    if quiet:
        click.echo(file.id)
    elif as_json:
        click.echo(json.dumps(file.to_dict()))
    else:
        click.echo(
            f"{file.id}\t{file.purpose}\t{file.bytes}\t{file.status}\t{file.filename}"
            + (f"\t{file.status_details}" if file.status_details else "")
        )


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--purpose", required=True, help="assistants, batch, fine-tune, vision, user_data, evals."
)
@click.option("--expires-after", type=int, help="Seconds after creation when the file expires.")
@click.option("--wait", is_flag=True, help="Wait until each file is processed (or failed).")
@click.option("--json", "as_json", is_flag=True, help="Print each File object as a JSON line.")
@click.option("-q", "--quiet", is_flag=True, help="Print only file ids.")
@click.option(
    "--chunk-threshold",
    default=str(DEFAULT_CHUNK_THRESHOLD),
    callback=_size,
    show_default=True,
    help="Files at least this big go through the Uploads API (bytes or e.g. 64MiB).",
)
@click.option(
    "--part-size",
    default=str(DEFAULT_PART_SIZE),
    callback=_size,
    show_default=True,
    help="Part size for the Uploads API (at most 64MiB).",
)
@click.option(
    "--parallel", default=DEFAULT_PARALLEL_PARTS, show_default=True, help="Parts in flight at once."
)
@click.option(
    "--poll-interval", default=1.0, show_default=True, help="Seconds between polls (--wait)."
)
@_connection_options
@_handle_errors
def upload(
    paths: tuple[str, ...],
    purpose: str,
    expires_after: int | None,
    wait: bool,
    as_json: bool,
    quiet: bool,
    chunk_threshold: int,
    part_size: int,
    parallel: int,
    poll_interval: float,
    base_url: str | None,
    api_key: str | None,
) -> None:
    """Upload files; big ones go through the Uploads API in parallel parts."""
    failed = False
    expiry = {"anchor": "created_at", "seconds": expires_after} if expires_after else None
    with _client(
        base_url,
        api_key,
        chunk_threshold=chunk_threshold,
        part_size=part_size,
        max_parallel_parts=parallel,
    ) as client:
        for path in paths:
            with _progress(f"upload {Path(path).name}", not quiet) as progress:
                file = client.files.create(
                    file=Path(path), purpose=purpose, expires_after=expiry, progress=progress
                )
            if wait:
                file = client.files.wait_for_processing(file.id, poll_interval=poll_interval)
            failed = failed or file.status == "error"
            _emit_file(file, as_json, quiet)
    if failed:
        sys.exit(EXIT_API_ERROR)


@click.command("ls")
@click.option("--purpose", help="Only files of this purpose.")
@click.option("--limit", type=int, help="One page of at most this many files (default: all).")
@click.option(
    "--order", type=click.Choice(["asc", "desc"]), help="By creation time (default desc)."
)
@click.option("--after", help="Start after this file id.")
@click.option("--json", "as_json", is_flag=True, help="Print the list object as JSON.")
@click.option("-q", "--quiet", is_flag=True, help="Print only file ids.")
@_connection_options
@_handle_errors
def ls(
    purpose: str | None,
    limit: int | None,
    order: str | None,
    after: str | None,
    as_json: bool,
    quiet: bool,
    base_url: str | None,
    api_key: str | None,
) -> None:
    """List files."""
    with _client(base_url, api_key) as client:
        if limit is not None:
            page = client.files.list(purpose=purpose, limit=limit, order=order, after=after)
            files, has_more = page.data, page.has_more
        else:
            files = []
            has_more = False
            cursor = after
            while True:
                page = client.files.list(purpose=purpose, order=order, after=cursor)
                files.extend(page.data)
                if not page.has_more or not page.data:
                    break
                cursor = page.data[-1].id
    if as_json:
        data = [f.to_dict() for f in files]
        click.echo(
            json.dumps(
                {
                    "object": "list",
                    "data": data,
                    "has_more": has_more,
                    "first_id": data[0]["id"] if data else None,
                    "last_id": data[-1]["id"] if data else None,
                }
            )
        )
        return
    for f in files:
        if quiet:
            click.echo(f.id)
        else:
            click.echo(
                f"{f.id}\t{f.purpose}\t{f.bytes}\t{_when(f.created_at)}\t{f.status}\t{f.filename}"
            )


@click.command()
@click.argument("file_id")
@click.option("-o", "--output", help="Where to write; '-' for stdout (default: the file's name).")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@_connection_options
@_handle_errors
def get(
    file_id: str, output: str | None, quiet: bool, base_url: str | None, api_key: str | None
) -> None:
    """Download a file's content (streamed to disk)."""
    with _client(base_url, api_key) as client:
        if output == "-":
            with client.stream(
                "GET", f"/files/{file_id}/content", {"Accept": "application/binary"}
            ) as response:
                out = sys.stdout.buffer
                for block in response.iter_bytes(1024 * 1024):
                    out.write(block)
                out.flush()
            return
        if output is None:
            name = Path(client.files.retrieve(file_id).filename).name
            output = name if name not in ("", ".", "..") else file_id
        with _progress(f"get {file_id}", not quiet) as progress:
            path = client.files.download(file_id, output, progress=progress)
    if not quiet:
        click.echo(str(path), err=True)


@click.command()
@click.argument("file_ids", nargs=-1, required=True)
@click.option("-q", "--quiet", is_flag=True, help="Print only the deleted ids.")
@_connection_options
@_handle_errors
def rm(file_ids: tuple[str, ...], quiet: bool, base_url: str | None, api_key: str | None) -> None:
    """Delete files; carries on past failures and exits 1 if any failed."""
    failed = False
    with _client(base_url, api_key) as client:
        for file_id in file_ids:
            try:
                client.files.delete(file_id)
            except APIStatusError as exc:
                click.echo(f"Error: {file_id}: {exc.message} (HTTP {exc.status})", err=True)
                failed = True
                continue
            click.echo(file_id if quiet else f"deleted {file_id}")
    if failed:
        sys.exit(EXIT_API_ERROR)


@click.command()
@click.argument("file_id")
@_connection_options
@_handle_errors
def info(file_id: str, base_url: str | None, api_key: str | None) -> None:
    """Show a File object as JSON."""
    with _client(base_url, api_key) as client:
        click.echo(json.dumps(client.files.retrieve(file_id).to_dict(), indent=2))


def render_report(report: dict[str, Any]) -> str:
    """A readable rendering of a validation report; unknown shapes fall back to JSON."""
    lines: list[str] = []
    for key in ("status", "summary", "status_details", "format", "lines", "examples"):
        value = report.get(key, (report.get("stats") or {}).get(key))
        # Absent fields (a batch file has no format) are left out, not printed as "None".
        if value is not None and not isinstance(value, dict | list):
            lines.append(f"{key}: {value}")
    for kind in ("errors", "warnings"):
        items = report.get(kind)
        if not isinstance(items, list):
            continue
        lines.append(f"{kind} ({len(items)}):")
        for item in items:
            if isinstance(item, dict):
                where = f"line {item['line']}" if item.get("line") is not None else "file"
                code = f"[{item['code']}] " if item.get("code") else ""
                lines.append(f"  {where}: {code}{item.get('message', json.dumps(item))}")
            else:
                lines.append(f"  {item}")
    return "\n".join(lines) if lines else json.dumps(report, indent=2)


@click.command()
@click.argument("file_id")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@_connection_options
@_handle_errors
def report(file_id: str, as_json: bool, base_url: str | None, api_key: str | None) -> None:
    """Show a file's validation report (filedock's GET /v1/files/{id}/report)."""
    with _client(base_url, api_key) as client:
        try:
            data = client.files.report(file_id)
        except APIStatusError as exc:
            if exc.is_missing_route:
                click.echo(
                    "This server has no validation reports (GET /v1/files/{id}/report); "
                    "`filedock info` shows status and status_details.",
                    err=True,
                )
                sys.exit(EXIT_API_ERROR)
            raise
    click.echo(json.dumps(data, indent=2) if as_json else render_report(data))


@click.command()
@click.argument("file_id")
@click.option("--poll-interval", default=1.0, show_default=True, help="Seconds between polls.")
@click.option("--timeout", default=1800.0, show_default=True, help="Seconds before giving up.")
@click.option("--json", "as_json", is_flag=True, help="Print the File object as JSON.")
@_connection_options
@_handle_errors
def wait(
    file_id: str,
    poll_interval: float,
    timeout: float,
    as_json: bool,
    base_url: str | None,
    api_key: str | None,
) -> None:
    """Wait until a file is processed; exits 1 if its processing failed."""
    with _client(base_url, api_key) as client:
        file = client.files.wait_for_processing(
            file_id, poll_interval=poll_interval, max_wait_seconds=timeout
        )
    _emit_file(file, as_json, False)
    if file.status == "error":
        sys.exit(EXIT_API_ERROR)


COMMANDS = (upload, ls, get, rm, info, report, wait)


def register_client_commands(group: click.Group) -> None:
    """Add the client commands to the `filedock` group."""
    for command in COMMANDS:
        group.add_command(command)
