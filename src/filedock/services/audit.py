"""The audit trail: one JSON line per file, key and project change on the `filedock.audit` logger.

Who acted (request id, project, key prefix; never a key) travels in a context variable that the
HTTP middleware, the CLI and the sweeper set, so services record events without seeing requests.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from filedock.settings import Settings

log = logging.getLogger("filedock.audit")


class Actor(NamedTuple):
    """Who is acting: `via` is http, cli or sweeper (a tuple: made on every request, cheaply)."""

    via: str
    request_id: str | None = None
    project_id: str | None = None
    key_prefix: str | None = None


_actor: contextvars.ContextVar[Actor | None] = contextvars.ContextVar(
    "filedock_audit_actor", default=None
)
_INTERNAL = Actor("internal")


def set_actor(actor: Actor) -> contextvars.Token[Actor | None]:
    return _actor.set(actor)


def reset_actor(token: contextvars.Token[Actor | None]) -> None:
    _actor.reset(token)


def record(event: str, at: float, **fields: Any) -> None:
    """Log one audit event that happened `at` (the service's clock); `fields` name what was
    changed (ids, sizes), never secrets."""
    if not log.isEnabledFor(logging.INFO):
        return
    actor = _actor.get() or _INTERNAL
    entry: dict[str, Any] = {
        "ts": round(at, 3),
        "event": event,
        "via": actor.via,
        "request_id": actor.request_id,
        "actor_project_id": actor.project_id,
        "key_prefix": actor.key_prefix,
        **fields,
    }
    log.info(json.dumps(entry, ensure_ascii=False, separators=(",", ":")))


class _StderrHandler(logging.Handler):
    """Writes to whatever sys.stderr is at the time (the CLI's may be swapped, e.g. in tests)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def configure(settings: Settings) -> None:
    """Send audit lines, bare JSON, to the audit file or standard error (once per process)."""
    if getattr(log, "_filedock_configured", False):
        return
    handler: logging.Handler = (
        logging.FileHandler(settings.audit_log_path, encoding="utf-8")
        if settings.audit_log_path
        else _StderrHandler()
    )
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False
    log._filedock_configured = True  # type: ignore[attr-defined]


class _LazyFileHandler(logging.FileHandler):
    """Creates its file (and folder) on the first line only: a command that changes nothing
    leaves no empty audit log behind."""

    def _open(self) -> Any:
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


@contextmanager
def to_file(path: Path) -> Iterator[None]:
    """While the block runs, audit lines go to `path` only (appended), whatever was configured.

    The CLI's admin commands use this: the trail belongs in its log, not on a terminal.
    """
    handler = _LazyFileHandler(path, encoding="utf-8", delay=True)
    handler.setFormatter(logging.Formatter("%(message)s"))
    saved = (list(log.handlers), log.propagate, log.level)
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        yield
    finally:
        log.handlers, log.propagate = saved[0], saved[1]
        log.setLevel(saved[2])
        handler.close()
