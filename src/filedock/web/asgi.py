"""Entry point for ASGI servers: `uvicorn --factory filedock.web.asgi:app_from_env`."""

from __future__ import annotations

from starlette.applications import Starlette

from filedock.logs import configure_logging
from filedock.services import audit
from filedock.settings import Settings
from filedock.web.app import create_app


def app_from_env() -> Starlette:
    """Build the app from FILEDOCK_* environment variables (used by each server worker)."""
    settings = Settings.from_env()
    # Each worker process configures its own logging (text or JSON with request ids).
    configure_logging(settings)

    audit.configure(settings)
    return create_app(settings)
