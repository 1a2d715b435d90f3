"""Server commands: `filedock serve`, `filedock migrate` and `filedock fsck`."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
from types import FrameType
from typing import Any

import click

from filedock import __version__
from filedock.cli.main import _run, _run_admin, _setting_options, _settings, main
from filedock.components import AdminComponents
from filedock.logs import configure_logging
from filedock.metadata.factory import redact_url
from filedock.settings import ENV_PREFIX, Settings, SettingsError


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
    if settings.log_format == "json":
        # Machine-read logs stay one JSON object per line; the key is never logged.
        logging.getLogger("filedock.serve").info(
            "filedock is starting", extra=_facts(settings, first_key_created=bool(secret))
        )
        if secret:
            click.echo(_key_lines(settings, secret), err=True)
    else:
        click.echo(welcome(settings, secret), err=True)
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
        ws="none",  # no WebSocket routes: skip importing a WebSocket implementation
        lifespan="on",
        access_log=settings.log_level.lower() == "debug",
        log_level=settings.log_level.lower(),
        # JSON logs: let uvicorn's loggers propagate to our root handler instead of their own.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        timeout_graceful_shutdown=30,
    )


def _facts(settings: Settings, **more: Any) -> dict[str, Any]:
    url = f"http://{settings.host}:{settings.port}"
    return {
        "api_url": f"{url}/v1",
        "dashboard_url": f"{url}/",
        "data_dir": str(settings.data_dir.resolve()),
        "metadata": (
            f"PostgreSQL {redact_url(settings.database_url)}"
            if settings.database_url
            else f"SQLite {settings.data_dir.resolve() / 'filedock.sqlite3'}"
        ),
        "file_storage": settings.storage_url
        or f"local folder {settings.data_dir.resolve() / 'blobs'}",
        **more,
    }


def _key_lines(settings: Settings, secret: str) -> str:
    return (
        "Created the first API key, an admin key of the default project "
        f"(shown only this once; store it now):\n  {secret}\n"
        f"Use it as OPENAI_API_KEY, with OPENAI_BASE_URL=http://{settings.host}:{settings.port}/v1"
    )


def welcome(settings: Settings, secret: str | None) -> str:
    """The short block a person reads when the server starts; the key only on the first run."""
    facts = _facts(settings)
    where = "--database-url URL" if settings.database_url else f"--data-dir {settings.data_dir}"
    lines = [
        f"filedock {__version__} is starting",
        f"  API:          {facts['api_url']}  (OPENAI_BASE_URL)",
        f"  Dashboard:    {facts['dashboard_url']}",
        f"  Data folder:  {facts['data_dir']}",
        f"  Metadata:     {facts['metadata']}",
        f"  File storage: {facts['file_storage']}",
    ]
    if secret:
        lines.append(_key_lines(settings, secret))
    lines.append(f"More keys: filedock keys create {where} [--name N] [--project P] [--admin]")
    return "\n".join(lines)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


@main.command()
@_setting_options
def migrate(**overrides: Any) -> None:
    """Apply database migrations and exit."""
    settings = _settings(overrides)
    _run_admin(settings, _noop)
    click.echo(f"database is up to date: {redact_url(settings.resolved_database_url)}")


async def _noop(components: AdminComponents) -> None:
    return None


@main.command()
@click.option("--verify", is_flag=True, help="Also read every blob: compare size and sha256.")
@click.option("--repair", is_flag=True, help="Remove orphan blobs and unfinished writes.")
@_setting_options
def fsck(verify: bool, repair: bool, **overrides: Any) -> None:
    """Audit the blob store against the database (read-only unless --repair).

    Reports blobs without rows, rows without blobs, unfinished writes nobody holds, and with
    --verify size/sha256 mismatches. Exits 1 when something is (still) wrong.
    """
    settings = _settings(overrides)
    report = _run(settings, lambda c: c.fsck().run(verify=verify, repair=repair))
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        sys.exit(1)
