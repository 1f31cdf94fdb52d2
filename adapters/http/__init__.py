"""The HTTP API (FastAPI): a thin shell over :class:`router.bus.Bus`."""

from adapters.http.app import create_app

__all__ = ["create_app"]
