"""The `filedock` command: server (serve, migrate), admin (keys, projects), remote client,
batches."""

from filedock.cli import admin, server  # noqa: F401  (they register their commands on `main`)
from filedock.cli.batch import batch
from filedock.cli.main import main
from filedock.cli.remote import register_client_commands

register_client_commands(main)
main.add_command(batch)

__all__ = ["main"]
