"""Authentication of API requests: the caller is the system whose API key is the bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from router.bus import Bus
from router.directory import System


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def current_caller(request: Request) -> System:
    """The authenticated system of the request (401 problem otherwise).

    ``async`` so that FastAPI calls it on the event loop: a plain function would be sent to a
    thread pool on every request."""
    bus: Bus = request.app.state.bus
    return bus.authenticate(_bearer(request))


Authenticated = Annotated[System, Depends(current_caller)]
