"""The ``Allow`` header of a 405: every method served at the path, whichever route serves it."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import Scope


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """The methods of every route of ``routes`` (those of included routers with them) whose path
    matches the request's, sorted.

    Starlette answers a 405 with the methods of the first route matching the path, though the
    next routes may serve the same path with other methods."""
    methods: set[str] = set()
    for route in iter_route_contexts(routes):
        served = route.methods
        if served and route.matches(scope)[0] is not Match.NONE:
            methods.update(served)
    return sorted(methods)
