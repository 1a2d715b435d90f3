"""The `filedock` command group and the helpers its commands share."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
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

    audit.configure(settings)
    try:
        return asyncio.run(main())
    except FiledockError as exc:
        raise click.ClickException(exc.message) from exc
    except SettingsError as exc:  # a backend URL that names no usable backend
        raise click.UsageError(str(exc)) from exc


@click.group()
@click.version_option(__version__, prog_name="filedock")
def main() -> None:
    """filedock: a self-hosted, OpenAI-compatible Files API server."""
