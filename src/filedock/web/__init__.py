"""The HTTP layer: parse the request, call the service, render the response."""

from filedock.web.app import create_app

__all__ = ["create_app"]
