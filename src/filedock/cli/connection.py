"""How the client commands connect and fail: connection options, the client, error exits.

A server error prints the server's message; a base URL without `/v1` gets advice to add it; an
unreachable server is named by the URL tried.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

from filedock.client import APIConnectionError, APIStatusError, FiledockClientError, FilesClient
from filedock.client._common import DEFAULT_BASE_URL

F = TypeVar("F", bound=Callable[..., Any])
EXIT_API_ERROR = 1
EXIT_INTERRUPTED = 130


CONNECTION_OPTIONS = (
    ("--api-key", "OPENAI_API_KEY", "API key (Bearer token)."),
    ("--base-url", "OPENAI_BASE_URL", "API base URL, e.g. http://127.0.0.1:8000/v1 (the default)."),
)


# What a client command calls to open its client (extra keywords go to FilesClient).
Connect = Callable[..., FilesClient]


def connection_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """A client command: --base-url and --api-key (read as the client reads them), turned into
    the command's `connect` argument, and the error exits of `handle_errors`."""

    @handle_errors
    @functools.wraps(fn)
    def command(*args: Any, base_url: str | None, api_key: str | None, **kwargs: Any) -> Any:
        return fn(*args, connect=functools.partial(make_client, base_url, api_key), **kwargs)

    decorated: Callable[..., Any] = command
    for name, envvar, help in CONNECTION_OPTIONS:
        decorated = click.option(name, envvar=envvar, show_envvar=True, help=help)(decorated)
    return decorated


def _base_url(kwargs: dict[str, Any]) -> str:
    """The base URL a command talks to, resolved as the client resolves it."""
    return str(
        kwargs.get("base_url") or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    ).rstrip("/")


def _v1_hint(base_url: str) -> str:
    """Advice when the base URL lacks the `/v1` every OpenAI-compatible API lives under."""
    if urlsplit(base_url).path.rstrip("/").endswith("/v1"):
        return ""
    return (
        f"\nThe base URL {base_url} does not end in /v1: the API lives under /v1, "
        f"so set OPENAI_BASE_URL (or --base-url) to {base_url}/v1"
    )


def handle_errors(fn: F) -> F:
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
            hint = _v1_hint(_base_url(kwargs)) if exc.is_missing_route else ""
            click.echo(
                f"Error: {exc.message} (HTTP {exc.status}{'; ' + details if details else ''})"
                + hint,
                err=True,
            )
            sys.exit(EXIT_API_ERROR)
        except APIConnectionError as exc:
            url = _base_url(kwargs)
            click.echo(
                f"Error: could not reach the server at {url} ({exc}).\n"
                "Is `filedock serve` running there? Set OPENAI_BASE_URL or --base-url "
                "to the server's address, ending in /v1." + _v1_hint(url),
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


def make_client(base_url: str | None, api_key: str | None, **kwargs: Any) -> FilesClient:
    try:
        return FilesClient(base_url, api_key, **kwargs)
    except ValueError as exc:  # out-of-range part size or parallelism
        raise click.UsageError(str(exc)) from exc
