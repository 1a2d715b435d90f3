"""Pure ASGI middleware: request ids, authentication, limits, metrics."""
