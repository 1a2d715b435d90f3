"""The `filedock` command: server (serve, migrate), admin (keys, projects), remote client."""

from filedock.cli import admin, server  # noqa: F401  (they register their commands on `main`)
from filedock.cli.main import main

# The client commands (cli/remote.py) are added by main's group class when first needed.
__all__ = ["main"]
