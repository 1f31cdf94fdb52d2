"""Authentication of API requests: the caller is the system whose API key is the bearer token.

The rate limiter (adapters/http/rate_limit.py), which runs before every route, already finds the
system of the request's key; it notes it in the request's scope (:func:`note_identified`), and the
route takes it from there rather than hashing the key a second time (a third, for a route whose
body InputLimits reads only after authenticating)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.types import Scope

from router.bus import Bus
from router.directory import System

# scope key: (the bearer token, the system the directory in force gave it)
_IDENTIFIED = "lienthong.identified"


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value (None for another scheme)."""
    if authorization is None:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def note_identified(scope: Scope, token: str, system: System) -> None:
    """Notes that ``token``, this request's key, is ``system``'s key by the directory in force.

    ``system`` must be what :meth:`router.directory.Directory.authenticate` gave for ``token``:
    the route takes it without hashing the key again."""
    scope[_IDENTIFIED] = (token, system)


async def current_caller(request: Request) -> System:
    """The authenticated system of the request (401 problem otherwise).

    ``async`` so that FastAPI calls it on the event loop: a plain function would be sent to a
    thread pool on every request."""
    bus: Bus = request.app.state.bus
    token = bearer_token(request.headers.get("authorization"))
    identified = request.scope.get(_IDENTIFIED)
    if identified is not None and token is not None and identified[0] == token:
        system: System = identified[1]
        # The very System object the directory in force holds for that id carries the key's hash
        # (a Directory maps each hash of a system to that system): hashing again finds it again.
        # After a reload that replaced it, the key is hashed against the new directory.
        if bus.directory.get(system.id) is system:
            return system
    return bus.authenticate(token)


Authenticated = Annotated[System, Depends(current_caller)]
