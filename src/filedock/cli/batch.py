"""`filedock batch ...`: create a batch from a JSONL file, watch it, fetch its results.

Client commands like upload/ls/get (filedock.client against any OpenAI-compatible server with a
Batch API), configured by OPENAI_BASE_URL / OPENAI_API_KEY or --base-url / --api-key.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from filedock.cli.connection import (
    EXIT_API_ERROR,
    Connect,
    connection_options,
)
from filedock.cli.output import Decorator, Listing, echo_object, list_options
from filedock.cli.output import progress as upload_progress
from filedock.cli.remote import _when, show_command
from filedock.client import Batch, FilesClient

ENDPOINTS = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/v1/responses",
    "/v1/moderations",
)
BatchCallback = Callable[[Batch], None]


def _counts(batch: Batch) -> str:
    c = batch.request_counts
    return f"{c.completed + c.failed}/{c.total} ({c.completed} completed, {c.failed} failed)"


def _summary(batch: Batch) -> str:
    return "\t".join(
        (batch.id, batch.status, batch.endpoint, _counts(batch), _when(batch.created_at))
    )


def _emit(batch: Batch, as_json: bool, quiet: bool) -> None:
    if not echo_object(batch, as_json, quiet):
        click.echo(_summary(batch))
        for error in batch.errors:
            where = f"line {error['line']}: " if error.get("line") is not None else ""
            click.echo(f"  {where}[{error.get('code')}] {error.get('message')}", err=True)


class _PlainBatchProgress:
    """Progress as plain lines (stderr is not a terminal): one per change of status or counts."""

    def __init__(self) -> None:
        self._last: tuple[str, int, int] | None = None

    def __call__(self, batch: Batch) -> None:
        c = batch.request_counts
        state = (batch.status, c.completed, c.failed)
        if state != self._last:
            self._last = state
            click.echo(f"{batch.id}: {batch.status} {_counts(batch)}", err=True)


@contextmanager
def _batch_progress(enabled: bool) -> Iterator[BatchCallback | None]:
    """A live bar of request_counts on a terminal (done/total, failed, rate, ETA); plain lines
    otherwise."""
    if not enabled:
        yield None
        return
    if not sys.stderr.isatty():
        yield _PlainBatchProgress()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[red]{task.fields[failed]} failed"),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    with bar:
        task = bar.add_task("batch", total=None, failed=0, status="")

        def update(batch: Batch) -> None:
            c = batch.request_counts
            bar.update(
                task,
                description=batch.id,
                completed=c.completed + c.failed,
                total=c.total or None,
                failed=c.failed,
                status=batch.status,
            )

        yield update


def _download_results(client: FilesClient, batch: Batch, output_dir: Path, quiet: bool) -> int:
    """Write the output and error files into `output_dir` under their own names; returns how
    many files were written."""
    output_dir.mkdir(parents=True, exist_ok=True)
    written = 0
    for file_id in (batch.output_file_id, batch.error_file_id):
        if not file_id:
            continue
        name = Path(client.files.retrieve(file_id).filename).name
        target = output_dir / (name if name not in ("", ".", "..") else f"{file_id}.jsonl")
        client.files.download(file_id, target)
        written += 1
        if not quiet:
            click.echo(str(target), err=True)
    return written


def _prints_batch(quiet: str | None = None) -> Decorator:
    """A command that prints a Batch: --json, -q (when `quiet` gives its help), and the
    connection options."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        command = connection_options(fn)
        if quiet is not None:
            command = click.option("-q", "--quiet", is_flag=True, help=quiet)(command)
        return click.option(
            "--json", "as_json", is_flag=True, help="Print the Batch object as JSON."
        )(command)

    return decorate


def _exit_for(batch: Batch) -> None:
    if batch.status != "completed":
        sys.exit(EXIT_API_ERROR)


@click.group()
def batch() -> None:
    """Run and watch batches (the Batch API): create, ls, get, cancel, wait, results."""


@batch.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--endpoint", required=True, type=click.Choice(ENDPOINTS), help="What every line calls."
)
@click.option("--completion-window", default="24h", show_default=True, help="OpenAI's window.")
@click.option("--metadata", "metadata", multiple=True, help="KEY=VALUE (repeatable, at most 16).")
@click.option("--output-expires-after", type=int, help="Seconds the result files are kept.")
@click.option("--wait", is_flag=True, help="Show progress until done, then download the results.")
@click.option(
    "-o", "--output-dir", default=".", show_default=True, help="Where --wait writes results."
)
@click.option(
    "--poll-interval", default=1.0, show_default=True, help="Seconds between polls (--wait)."
)
@_prints_batch(quiet="Print only the batch id; no progress.")
def create(
    path: str,
    endpoint: str,
    completion_window: str,
    metadata: tuple[str, ...],
    output_expires_after: int | None,
    wait: bool,
    output_dir: str,
    poll_interval: float,
    as_json: bool,
    quiet: bool,
    connect: Connect,
) -> None:
    """Upload PATH (purpose batch) and create a batch from it."""
    tags: dict[str, str] = {}
    for item in metadata:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--metadata")
        tags[key] = value
    expiry = (
        {"anchor": "created_at", "seconds": output_expires_after} if output_expires_after else None
    )
    with connect() as client:
        with upload_progress(f"upload {Path(path).name}", not quiet) as progress:
            file = client.files.create(file=Path(path), purpose="batch", progress=progress)
        created = client.batches.create(
            input_file_id=file.id,
            endpoint=endpoint,
            completion_window=completion_window,
            metadata=tags or None,
            output_expires_after=expiry,
        )
        if not wait:
            _emit(created, as_json, quiet)
            return
        with _batch_progress(not quiet) as on_update:
            done = client.batches.wait(created.id, poll_interval=poll_interval, on_update=on_update)
        _download_results(client, done, Path(output_dir), quiet)
    _emit(done, as_json, quiet)
    _exit_for(done)


@batch.command("ls")
@list_options("batches", "batch")
@connection_options
def ls(listing: Listing, connect: Connect) -> None:
    """List batches, newest first: id, status, endpoint, counts, created."""
    with connect() as client:
        batches, has_more = listing.fetch(
            lambda cursor: client.batches.list(limit=listing.limit or 100, after=cursor)
        )
    if not listing.echo(batches, has_more):
        for b in batches:
            click.echo(_summary(b))


batch.add_command(
    show_command(
        "get",
        "batch_id",
        "Show a Batch object as JSON.",
        lambda client, id: client.batches.retrieve(id),
    )
)


@batch.command()
@click.argument("batch_id")
@_prints_batch()
def cancel(batch_id: str, as_json: bool, connect: Connect) -> None:
    """Cancel a batch: no new lines start; results so far are kept (status cancelling, then
    cancelled)."""
    with connect() as client:
        _emit(client.batches.cancel(batch_id), as_json, False)


@batch.command()
@click.argument("batch_id")
@click.option("--poll-interval", default=1.0, show_default=True, help="Seconds between polls.")
@click.option("--timeout", default=86400.0, show_default=True, help="Seconds before giving up.")
@_prints_batch(quiet="No progress output.")
def wait(
    batch_id: str,
    poll_interval: float,
    timeout: float,
    as_json: bool,
    quiet: bool,
    connect: Connect,
) -> None:
    """Wait until a batch ends, with a progress bar; exits 1 unless it completed."""
    with connect() as client, _batch_progress(not quiet) as on_update:
        done = client.batches.wait(
            batch_id, poll_interval=poll_interval, max_wait_seconds=timeout, on_update=on_update
        )
    _emit(done, as_json, False)
    _exit_for(done)


@batch.command()
@click.argument("batch_id")
@click.option("-o", "--output-dir", default=".", show_default=True, help="Where to write.")
@click.option("-q", "--quiet", is_flag=True, help="Do not print the paths written.")
@connection_options
def results(batch_id: str, output_dir: str, quiet: bool, connect: Connect) -> None:
    """Download a batch's output and error files (under their own names)."""
    with connect() as client:
        found = client.batches.retrieve(batch_id)
        if _download_results(client, found, Path(output_dir), quiet) == 0:
            click.echo(
                f"Error: batch {batch_id} has no result files yet ({found.status})", err=True
            )
            sys.exit(EXIT_API_ERROR)
