"""The `filedock` command: run the server and manage keys and the database."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import FrameType
from typing import Any, TypeVar

import click

from filedock import __version__
from filedock.cli_client import register_client_commands
from filedock.components import Components
from filedock.errors import FiledockError
from filedock.logs import configure_logging
from filedock.settings import ENV_PREFIX, Settings, SettingsError

T = TypeVar("T")


def _setting_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One `--flag` per setting, each also read from its FILEDOCK_* variable."""
    for f in reversed(dataclasses.fields(Settings)):
        env = ENV_PREFIX + f.name.upper()
        default = "***" if f.metadata.get("secret") else f.default
        fn = click.option(
            "--" + f.name.replace("_", "-"),
            f.name,
            default=None,
            help=f"{f.metadata['help']} [env {env}; default {default}]",
        )(fn)
    return fn


def _settings(overrides: dict[str, Any]) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


def _run(settings: Settings, work: Callable[[Components], Awaitable[T]]) -> T:
    """Open the stores (applying migrations), run `work`, close them."""

    async def main() -> T:
        components = Components.build(settings)
        await components.open()
        try:
            return await work(components)
        finally:
            await components.close()

    try:
        return asyncio.run(main())
    except FiledockError as exc:
        raise click.ClickException(exc.message) from exc


@click.group()
@click.version_option(__version__, prog_name="filedock")
def main() -> None:
    """filedock: a self-hosted, OpenAI-compatible Files API server."""


@main.command()
@_setting_options
def serve(**overrides: Any) -> None:
    """Run the server (default: SQLite + local disk under --data-dir, on 127.0.0.1:8000)."""
    import uvicorn

    settings = _settings(overrides)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        configure_logging(settings)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc
    secret = _run(settings, lambda c: c.keys.ensure_bootstrap_key())
    if secret:
        click.echo(
            "Created the first API key (shown only this once; store it now):\n"
            f"  {secret}\n"
            "Use it as OPENAI_API_KEY, with OPENAI_BASE_URL="
            f"http://{settings.host}:{settings.port}/v1",
            err=True,
        )
    # Each worker process rebuilds the same settings from the environment.
    for f in dataclasses.fields(Settings):
        value = getattr(settings, f.name)
        os.environ[ENV_PREFIX + f.name.upper()] = str(value)
    # uvicorn re-raises SIGTERM once its graceful shutdown is done; a finished graceful stop is
    # a normal exit, so the re-raised signal ends the process with status 0 instead of -15.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    uvicorn.run(
        "filedock.web.asgi:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers if settings.workers > 1 else None,
        http="httptools",
        loop="uvloop",
        lifespan="on",
        access_log=settings.log_level.lower() == "debug",
        log_level=settings.log_level.lower(),
        # JSON logs: let uvicorn's loggers propagate to our root handler instead of their own.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        timeout_graceful_shutdown=30,
    )


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


@main.command()
@_setting_options
def migrate(**overrides: Any) -> None:
    """Apply database migrations and exit."""
    settings = _settings(overrides)
    _run(settings, _noop)
    click.echo(f"database is up to date: {settings.resolved_database_url}")


async def _noop(components: Components) -> None:
    return None


@main.group()
def keys() -> None:
    """Manage API keys (stored hashed; a new key is shown once)."""


def _when(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if ts else "-"


@keys.command("create")
@click.option("--name", default="", help="A label for the key.")
@click.option("--data-dir", default=None, help="Data folder [env FILEDOCK_DATA_DIR].")
@click.option("--database-url", default=None, help="Database [env FILEDOCK_DATABASE_URL].")
def keys_create(name: str, **overrides: Any) -> None:
    """Create a key and print its secret (once)."""
    record, secret = _run(_settings(overrides), lambda c: c.keys.create_key(name))
    click.echo(secret)
    click.echo(f"created {record.id} ({record.prefix}...)", err=True)


@keys.command("list")
@click.option("--data-dir", default=None, help="Data folder [env FILEDOCK_DATA_DIR].")
@click.option("--database-url", default=None, help="Database [env FILEDOCK_DATABASE_URL].")
def keys_list(**overrides: Any) -> None:
    """List keys by id and prefix."""
    records = _run(_settings(overrides), lambda c: c.keys.list_keys())
    for r in records:
        state = f"revoked {_when(r.revoked_at)}" if r.revoked_at else "active"
        click.echo(
            f"{r.id}\t{r.prefix}...\t{r.project_id}\t{_when(r.created_at)}\t{state}\t{r.name}"
        )


@keys.command("revoke")
@click.argument("key")
@click.option("--data-dir", default=None, help="Data folder [env FILEDOCK_DATA_DIR].")
@click.option("--database-url", default=None, help="Database [env FILEDOCK_DATABASE_URL].")
def keys_revoke(key: str, **overrides: Any) -> None:
    """Revoke a key by id or prefix; effective on the next request."""
    record = _run(_settings(overrides), lambda c: c.keys.revoke(key))
    click.echo(f"revoked {record.id} ({record.prefix}...)")


PROGRESS_MIN_BYTES = 8 * 1024 * 1024
VALIDATE_CHUNK = 1024 * 1024


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=False))
@click.option(
    "--purpose",
    required=True,
    type=click.Choice(["fine-tune", "batch", "evals", "vision", "assistants"]),
    help="The purpose the file would be uploaded with.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def validate(path: str, purpose: str, as_json: bool) -> None:
    """Check a file offline exactly as the server would; exit 1 when it is invalid.

    Limits come from the same FILEDOCK_* variables as the server's (e.g.
    FILEDOCK_FINE_TUNE_MIN_EXAMPLES). A progress bar is shown for files over 8 MB when stderr is
    a terminal.
    """
    import io
    import json

    from filedock.processing import validation_options
    from filedock.validation import validator_for

    settings = _settings({})
    validator = validator_for(purpose, os.path.basename(path), validation_options(settings))
    size = os.path.getsize(path)
    show = size > PROGRESS_MIN_BYTES and sys.stderr.isatty()
    with (
        open(path, "rb") as source,
        click.progressbar(
            length=size, label="validating", file=sys.stderr if show else io.StringIO()
        ) as bar,
    ):
        while chunk := source.read(VALIDATE_CHUNK):
            validator.feed(chunk)
            bar.update(len(chunk))
            if validator.done:
                break
    report = validator.finish()
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(report.to_text())
    sys.exit(0 if report.valid else 1)


# Client commands (upload, ls, get, rm, info, report, wait) live in cli_client.py.
register_client_commands(main)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
