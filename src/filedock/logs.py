"""Logging set-up: readable text or one JSON object per line, each carrying the request id."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import urllib.parse
from datetime import UTC, datetime
from typing import Any

from filedock.settings import Settings, SettingsError

LOG_FORMATS = ("text", "json")
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "filedock_request_id", default=None
)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Attributes every LogRecord has; anything else was passed with `extra=` and is logged as a field.
# uvicorn's `color_message` repeats the message with ANSI escapes: JSON logs leave it out.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "color_message",
}
# Query parameters whose value must never reach a log: by name (api_key, access_token,
# X-Amz-Signature, password, ...) or by value (anything shaped like an API key).
_SECRET_NAME = re.compile(r"key|token|secret|passw|auth|sig|credential|session", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"sk-")
REDACTED = "***"


def redact_query(query: str) -> str:
    """The query string with the value of every secret-looking parameter replaced by ***."""
    if not query:
        return query
    pairs = []
    for pair in query.split("&"):
        name, eq, value = pair.partition("=")
        plain_name = urllib.parse.unquote_plus(name)
        plain_value = urllib.parse.unquote_plus(value)
        if not eq:
            if _SECRET_VALUE.match(plain_name.strip()):
                pair = REDACTED  # a bare `?sk-...`
        elif _SECRET_NAME.search(plain_name) or _SECRET_VALUE.match(plain_value.strip()):
            pair = f"{name}={REDACTED}"
        pairs.append(pair)
    return "&".join(pairs)


def redact_target(target: str) -> str:
    """A request target (path?query) with secrets in its query redacted."""
    path, question, query = target.partition("?")
    return path + question + redact_query(query) if question else target


class RedactQueryFilter(logging.Filter):
    """Redact query strings in uvicorn's access log lines (its args hold the full target)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(a, str) and "?" in a for a in record.args
        ):
            record.args = tuple(redact_target(a) if isinstance(a, str) else a for a in record.args)
        return True


class RequestIdFilter(logging.Filter):
    """Put the current request id (or None) on every record as `request_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def check_log_format(value: str) -> str:
    if value not in LOG_FORMATS:
        raise SettingsError(f"log_format: {value!r} is not one of {', '.join(LOG_FORMATS)}")
    return value


def configure_logging(settings: Settings) -> None:
    """Replace the root handler with one in the configured format (idempotent)."""
    fmt = check_log_format(settings.log_format)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_filedock", False):
            root.removeHandler(old)
    handler._filedock = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # uvicorn's own access log (on with --log-level debug) prints the raw request target.
    uvicorn_access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQueryFilter) for f in uvicorn_access.filters):
        uvicorn_access.addFilter(RedactQueryFilter())
