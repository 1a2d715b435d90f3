"""Entry point for ASGI servers: `uvicorn --factory filedock.web.asgi:app_from_env`."""

from __future__ import annotations

from starlette.applications import Starlette

from filedock import audit
from filedock.settings import Settings
from filedock.web.app import create_app


def app_from_env() -> Starlette:
    """Build the app from FILEDOCK_* environment variables (used by each server worker)."""
    settings = Settings.from_env()
    audit.configure(settings)
    return create_app(settings)
