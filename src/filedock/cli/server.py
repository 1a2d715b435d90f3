"""Server commands: `filedock serve` and `filedock migrate`."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
from types import FrameType
from typing import Any

import click

from filedock.cli.main import _run_admin, _setting_options, _settings, main
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
    secret = _run_admin(settings, lambda c: c.keys.ensure_bootstrap_key())
    if secret:
        click.echo(
            "Created the first API key, an admin key of the default project "
            "(shown only this once; store it now):\n"
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
    _run_admin(settings, _noop)
    click.echo(f"database is up to date: {redact_url(settings.resolved_database_url)}")


async def _noop(components: AdminComponents) -> None:
    return None
