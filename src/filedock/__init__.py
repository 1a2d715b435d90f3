"""filedock: a self-hosted, OpenAI-compatible Files API server."""

__version__ = "0.1.0"
