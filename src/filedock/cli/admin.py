"""Admin commands: keys, projects and offline validation."""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from filedock.cli.main import _run_admin, _settings, main
from filedock.components import AdminComponents
from filedock.errors import InvalidRequest, NotFound
from filedock.models import DEFAULT_PROJECT_ID, ROLE_ADMIN, ROLE_MEMBER, ApiKeyRecord, ProjectRecord
from filedock.settings import parse_size


@main.group()
def keys() -> None:
    """Manage API keys (stored hashed; a new key is shown once)."""


def _when(ts: int | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if ts else "-"


async def _project(c: AdminComponents, ref: str) -> ProjectRecord:
    """The project named `ref`: its id, or else its name (which must then be unique)."""
    try:
        return await c.projects.get_project(ref)
    except NotFound:
        pass
    found: list[ProjectRecord] = []
    after: str | None = None
    while True:
        page, more = await c.projects.list_projects(limit=100, after=after, include_archived=True)
        found += [p for p in page if p.name == ref]
        if not more or not page:
            break
        after = page[-1].id
    if not found:
        raise NotFound(f"No such project: {ref} (no project has that id or name).")
    active = [p for p in found if p.archived_at is None] or found
    if len(active) > 1:
        ids = ", ".join(p.id for p in active)
        raise InvalidRequest(f"Several projects are named {ref!r} ({ids}); give the id.")
    return active[0]


@keys.command("create")
@click.option("--name", default="", help="A label for the key.")
@click.option(
    "--project", default=DEFAULT_PROJECT_ID, show_default=True, help="Project id or name."
)
@click.option("--admin", is_flag=True, help="An admin key: may manage projects and keys.")
@click.option(
    "--expires-in", default=None, help="Lifetime, e.g. 3600, 90m, 12h or 30d (default: never)."
)
@click.option("--data-dir", default=None, help="Data folder [env FILEDOCK_DATA_DIR].")
@click.option("--database-url", default=None, help="Database [env FILEDOCK_DATABASE_URL].")
def keys_create(
    name: str, project: str, admin: bool, expires_in: str | None, **overrides: Any
) -> None:
    """Create a key and print its secret (once)."""
    expires_at = int(time.time()) + _duration(expires_in) if expires_in else None

    async def create(c: AdminComponents) -> tuple[ApiKeyRecord, str]:
        found = await c.projects.get_active_project((await _project(c, project)).id)
        return await c.keys.create_key(
            name, found.id, role=ROLE_ADMIN if admin else ROLE_MEMBER, expires_at=expires_at
        )

    record, secret = _run_admin(_settings(overrides), create)
    click.echo(secret)
    click.echo(f"created {record.id} ({record.prefix}...) in {record.project_id}", err=True)


@keys.command("list")
@click.option("--project", default=None, help="Only this project's keys (id or name).")
@click.option("--data-dir", default=None, help="Data folder [env FILEDOCK_DATA_DIR].")
@click.option("--database-url", default=None, help="Database [env FILEDOCK_DATABASE_URL].")
def keys_list(project: str | None, **overrides: Any) -> None:
    """List keys: id, prefix, project, created, state, role, expiry, name."""

    async def work(c: AdminComponents) -> list[ApiKeyRecord]:
        return await c.keys.list_keys((await _project(c, project)).id if project else None)

    records = _run_admin(_settings(overrides), work)
    now = time.time()
    for r in records:
        if r.revoked_at:
            state = f"revoked {_when(r.revoked_at)}"
        elif r.expires_at is not None and r.expires_at <= now:
            state = "expired"
        else:
            state = "active"
        click.echo(
            f"{r.id}\t{r.prefix}...\t{r.project_id}\t{_when(r.created_at)}\t{state}\t"
            f"{r.role}\texpires {_when(r.expires_at)}\t{r.name}"
        )


@keys.command("revoke")
@click.argument("key")
@click.option("--data-dir", default=None, help="Data folder [env FILEDOCK_DATA_DIR].")
@click.option("--database-url", default=None, help="Database [env FILEDOCK_DATABASE_URL].")
def keys_revoke(key: str, **overrides: Any) -> None:
    """Revoke a key by id or prefix; effective on the next request."""
    record = _run_admin(_settings(overrides), lambda c: c.keys.revoke(key))
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

    from filedock.services.processing import validation_options
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

# projects and quotas
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> int:
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not match or int(match.group(1)) <= 0:
        raise click.BadParameter(f"not a duration: {text!r} (e.g. 3600, 90m, 12h, 30d)")
    return int(match.group(1)) * _DURATION_UNITS[match.group(2)]


def _quota(text: str) -> int | None:
    if text.strip().lower() == "default":
        return None
    try:
        return parse_size(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _project_line(c: AdminComponents, p: ProjectRecord) -> str:
    state = f"archived {_when(p.archived_at)}" if p.archived_at is not None else "active"
    return (
        f"{p.id}\t{p.name}\t{state}\tquota {c.projects.quota_of(p)}\t"
        f"used {p.used_bytes}\treserved {p.reserved_bytes}\t"
        f"rpm {c.projects.requests_per_minute_of(p)}\tupm {c.projects.uploads_per_minute_of(p)}"
    )


_DB_OPTIONS = (
    click.option("--data-dir", default=None, help="Data folder [env FILEDOCK_DATA_DIR]."),
    click.option("--database-url", default=None, help="Database [env FILEDOCK_DATABASE_URL]."),
)


def _db_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_DB_OPTIONS):
        fn = option(fn)
    return fn


@main.group()
def projects() -> None:
    """Manage projects: each has its own files, keys, storage quota and rate limits."""


@projects.command("create")
@click.argument("name")
@click.option("--quota", default=None, help="Storage quota, e.g. 100GB (default: the setting).")
@click.option("--requests-per-minute", type=int, default=None, help="Per key (default: setting).")
@click.option("--uploads-per-minute", type=int, default=None, help="Per key (default: setting).")
@_db_options
def projects_create(
    name: str,
    quota: str | None,
    requests_per_minute: int | None,
    uploads_per_minute: int | None,
    **overrides: Any,
) -> None:
    """Create a project and print its id."""
    storage = _quota(quota) if quota else None
    record = _run_admin(
        _settings(overrides),
        lambda c: c.projects.create_project(
            name,
            storage_quota_bytes=storage,
            requests_per_minute=requests_per_minute,
            uploads_per_minute=uploads_per_minute,
        ),
    )
    click.echo(record.id)


@projects.command("list")
@click.option("--all", "include_archived", is_flag=True, help="Include archived projects.")
@_db_options
def projects_list(include_archived: bool, **overrides: Any) -> None:
    """List projects: id, name, state, quota, used, reserved, limits."""

    async def work(c: AdminComponents) -> list[str]:
        lines: list[str] = []
        after: str | None = None
        while True:
            page, more = await c.projects.list_projects(
                limit=100, after=after, include_archived=include_archived
            )
            lines.extend(_project_line(c, p) for p in page)
            if not more or not page:
                return lines
            after = page[-1].id

    for line in _run_admin(_settings(overrides), work):
        click.echo(line)


@projects.command("show")
@click.argument("project_ref", metavar="PROJECT")
@_db_options
def projects_show(project_ref: str, **overrides: Any) -> None:
    """Show a project (id or name), its usage per purpose and its keys."""

    async def work(c: AdminComponents) -> list[str]:
        project = await _project(c, project_ref)
        project_id = project.id
        usage = await c.projects.usage(project_id)
        lines = [_project_line(c, project)]
        lines += [f"  {u.purpose}\t{u.file_count} files\t{u.bytes} bytes" for u in usage.purposes]
        for k in await c.keys.list_keys(project_id):
            state = "revoked" if k.revoked_at else "active"
            lines.append(f"  key {k.id}\t{k.prefix}...\t{k.role}\t{state}\t{k.name}")
        return lines

    for line in _run_admin(_settings(overrides), work):
        click.echo(line)


@projects.command("set-quota")
@click.argument("project_ref", metavar="PROJECT")
@click.argument("quota")
@_db_options
def projects_set_quota(project_ref: str, quota: str, **overrides: Any) -> None:
    """Set a project's (id or name) storage quota: a size like 500GB or 1TiB, or `default`."""
    storage = _quota(quota)

    async def work(c: AdminComponents) -> str:
        project_id = (await _project(c, project_ref)).id
        return _project_line(c, await c.projects.set_quota(project_id, storage))

    click.echo(_run_admin(_settings(overrides), work))


@projects.command("delete")
@click.argument("project_ref", metavar="PROJECT")
@_db_options
def projects_delete(project_ref: str, **overrides: Any) -> None:
    """Archive a project (id or name): its keys are revoked at once; its files are kept."""

    async def work(c: AdminComponents) -> ProjectRecord:
        return await c.projects.archive_project((await _project(c, project_ref)).id)

    record = _run_admin(_settings(overrides), work)
    click.echo(f"archived {record.id} ({record.name}); its keys are revoked")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
