"""`python -m filedock` runs the CLI."""

from filedock.cli import main

main()
