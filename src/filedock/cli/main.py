"""The `filedock` command group and the helpers its commands share."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

import click

from filedock import __version__
from filedock.components import AdminComponents, Components
from filedock.errors import FiledockError
from filedock.services import audit
from filedock.settings import ENV_PREFIX, Settings, SettingsError

T = TypeVar("T")


class _Opens(Protocol):
    async def open(self) -> None: ...

    async def close(self) -> None: ...


C = TypeVar("C", bound=_Opens)


_CLICK_TYPES: dict[str, Any] = {
    "int": click.INT,
    "float": click.FLOAT,
    "bool": click.BOOL,
    "Path": click.Path(path_type=Path),
}


def _setting_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One `--flag` per setting, typed like the setting, each also read from FILEDOCK_*.

    The option's own default stays None so that FILEDOCK_* variables still apply; `--help` shows
    the setting's real default and type (sizes take a unit, e.g. 512MiB).
    """
    for f in reversed(dataclasses.fields(Settings)):
        env = ENV_PREFIX + f.name.upper()
        if f.metadata.get("secret"):
            default = "none" if not f.default else "***"
        elif f.default in ("", None):
            default = "none"
        else:
            default = str(f.default)
        size = bool(f.metadata.get("size"))
        kind = str(f.type)
        fn = click.option(
            "--" + f.name.replace("_", "-"),
            f.name,
            default=None,
            type=None if size else _CLICK_TYPES.get(kind, click.STRING),
            metavar="SIZE" if size else None,
            help=f"{f.metadata['help']} [default: {default}; env {env}]",
        )(fn)
    return fn


def _settings(overrides: dict[str, Any]) -> Settings:
    try:
        return Settings.from_env(**overrides)
    except SettingsError as exc:
        raise click.UsageError(str(exc)) from exc


def _run(settings: Settings, work: Callable[[Components], Awaitable[T]]) -> T:
    """Open every store (applying migrations), run `work`, close them."""
    return _run_with(Components.build, settings, work)


def _run_admin(settings: Settings, work: Callable[[AdminComponents], Awaitable[T]]) -> T:
    """Like `_run` with only what admin commands need: the metadata store, keys and projects
    (they work while the blob store is down)."""
    return _run_with(AdminComponents.build, settings, work)


def _run_with(
    build: Callable[[Settings], C], settings: Settings, work: Callable[[C], Awaitable[T]]
) -> T:
    async def main() -> T:
        audit.set_actor(audit.Actor("cli"))
        components = build(settings)
        await components.open()
        try:
            return await work(components)
        finally:
            await components.close()

    try:
        # The audit trail goes to its log file, never onto the operator's terminal.
        with audit.to_file(cli_audit_path(settings)):
            return asyncio.run(main())
    except FiledockError as exc:
        raise click.ClickException(exc.message) from exc
    except SettingsError as exc:  # a backend URL that names no usable backend
        raise click.UsageError(str(exc)) from exc


def cli_audit_path(settings: Settings) -> Path:
    """Where CLI commands write audit lines: the audit log, else <data_dir>/audit.log."""
    if settings.audit_log_path:
        return Path(settings.audit_log_path)
    return settings.data_dir / "audit.log"


class FiledockGroup(click.Group):
    """The command group; the client commands (and httpx under them) load on first need.

    `filedock serve` never imports the client: that is about 0.1 s off every server start.
    """

    _client_loaded = False

    def _load_client_commands(self) -> None:
        if not self._client_loaded:
            self._client_loaded = True
            from filedock.cli.remote import register_client_commands

            register_client_commands(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and not self._client_loaded:
            self._load_client_commands()
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_client_commands()
        return super().list_commands(ctx)


@click.group(cls=FiledockGroup)
@click.version_option(__version__, prog_name="filedock")
def main() -> None:
    """filedock: a self-hosted, OpenAI-compatible Files API server."""
