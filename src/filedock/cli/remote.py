"""Client commands of `filedock` (upload, ls, get, rm, info, report, wait) on filedock.client.

They talk to any OpenAI-compatible Files server, configured like the official SDK
(OPENAI_BASE_URL, OPENAI_API_KEY) or with --base-url / --api-key.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from filedock.cli.connection import EXIT_API_ERROR, Connect, F, connection_options
from filedock.cli.output import (
    DETAILS_WIDTH,
    Listing,
    echo_object,
    list_options,
    render_report,
    table,
    truncate,
)
from filedock.cli.output import progress as progress_to
from filedock.client import APIStatusError, FileObject, FilesClient
from filedock.client._common import (
    DEFAULT_CHUNK_THRESHOLD,
    DEFAULT_PARALLEL_PARTS,
    DEFAULT_PART_SIZE,
)
from filedock.settings import parse_size


def _size(ctx: click.Context, param: click.Parameter, value: Any) -> int:
    if isinstance(value, int):
        return value
    try:
        return parse_size(str(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _size_option(name: str, default: int, help: str) -> Callable[[F], F]:
    """An option of bytes, given as a number or a size such as 64MiB."""
    return click.option(name, default=str(default), callback=_size, show_default=True, help=help)


def _when(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _emit_file(file: FileObject, as_json: bool, quiet: bool) -> None:
    if not echo_object(file, as_json, quiet):
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
@_size_option(
    "--chunk-threshold",
    DEFAULT_CHUNK_THRESHOLD,
    "Files at least this big go through the Uploads API (bytes or e.g. 64MiB).",
)
@_size_option("--part-size", DEFAULT_PART_SIZE, "Part size for the Uploads API (at most 64MiB).")
@click.option(
    "--parallel", default=DEFAULT_PARALLEL_PARTS, show_default=True, help="Parts in flight at once."
)
@click.option(
    "--poll-interval", default=1.0, show_default=True, help="Seconds between polls (--wait)."
)
@connection_options
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
    connect: Connect,
) -> None:
    """Upload files; big ones go through the Uploads API in parallel parts."""
    failed = False
    expiry = {"anchor": "created_at", "seconds": expires_after} if expires_after else None
    with connect(
        chunk_threshold=chunk_threshold,
        part_size=part_size,
        max_parallel_parts=parallel,
    ) as client:
        for path in paths:
            with progress_to(f"upload {Path(path).name}", not quiet) as progress:
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
@list_options(
    "files",
    "file",
    click.option(
        "--order", type=click.Choice(["asc", "desc"]), help="By creation time (default desc)."
    ),
)
@connection_options
def ls(purpose: str | None, order: str | None, listing: Listing, connect: Connect) -> None:
    """List files."""
    with connect() as client:
        files, has_more = listing.fetch(
            lambda cursor: client.files.list(
                purpose=purpose, limit=listing.limit, order=order, after=cursor
            )
        )
    if listing.echo(files, has_more):
        return
    for line in table(
        ("ID", "PURPOSE", "BYTES", "CREATED (UTC)", "STATUS", "FILENAME", "STATUS DETAILS"),
        [
            (
                f.id,
                f.purpose,
                str(f.bytes),
                _when(f.created_at),
                f.status or "-",
                f.filename,
                truncate(f.status_details or "", DETAILS_WIDTH),
            )
            for f in files
        ],
    ):
        click.echo(line)
    if has_more:
        click.echo("(more files: use --after with the last id, or no --limit)", err=True)


@click.command()
@click.argument("file_id")
@click.option("-o", "--output", help="Where to write; '-' for stdout (default: the file's name).")
@click.option("-f", "--force", is_flag=True, help="Overwrite the output file if it exists.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@connection_options
def get(
    file_id: str,
    output: str | None,
    force: bool,
    quiet: bool,
    connect: Connect,
) -> None:
    """Download a file's content (streamed to disk); never overwrites a file without --force."""
    with connect() as client:
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
        if Path(output).exists() and not force:
            raise click.ClickException(
                f"{output} already exists; pass --force to overwrite it, "
                "-o PATH to choose another name, or -o - to write to standard output."
            )
        with progress_to(f"get {file_id}", not quiet) as progress:
            path = client.files.download(file_id, output, progress=progress)
    if not quiet:
        click.echo(str(path), err=True)


@click.command()
@click.argument("file_ids", nargs=-1, required=True)
@click.option("-q", "--quiet", is_flag=True, help="Print only the deleted ids.")
@connection_options
def rm(file_ids: tuple[str, ...], quiet: bool, connect: Connect) -> None:
    """Delete files; carries on past failures and exits 1 if any failed."""
    failed = False
    with connect() as client:
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


def show_command(
    name: str, argument: str, help: str, retrieve: Callable[[FilesClient, str], Any]
) -> click.Command:
    """A command that prints one object (`retrieve(client, id)`) as indented JSON."""

    @click.command(name, help=help)
    @click.argument(argument)
    @connection_options
    def show(connect: Connect, **ids: str) -> None:
        with connect() as client:
            click.echo(json.dumps(retrieve(client, ids[argument]).to_dict(), indent=2))

    return show


info = show_command(
    "info", "file_id", "Show a File object as JSON.", lambda client, id: client.files.retrieve(id)
)


@click.command()
@click.argument("file_id")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@connection_options
def report(file_id: str, as_json: bool, connect: Connect) -> None:
    """Show a file's validation report (filedock's GET /v1/files/{id}/report)."""
    with connect() as client:
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
@connection_options
def wait(
    file_id: str,
    poll_interval: float,
    timeout: float,
    as_json: bool,
    connect: Connect,
) -> None:
    """Wait until a file is processed; exits 1 if its processing failed."""
    with connect() as client:
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
    from filedock.cli.batch import batch  # imports this module: loaded after it

    group.add_command(batch)
