"""Hot-path routes: documented by FastAPI, served by Starlette directly.

FastAPI's router checks a request against every route declared before the one that matches,
then solves the route's dependencies and wraps the call in its own request and response
machinery. In this FastAPI that costs about 200 µs per request (``docs/benchmarks.md``, "Evidence
queries"), more than a cached evidence query does itself. The routes on the hot paths (a
publish, an evidence query) are therefore declared on an ``APIRouter(route_class=DirectRoute)``:
FastAPI builds their OpenAPI entries as for any route, and :func:`serve_directly` puts a plain
Starlette route for each ahead of all the others, which is the one requests reach.

Their endpoints take only the ``Request``: they authenticate with
:func:`adapters.http.auth.current_caller` and read their body themselves. Errors they raise go
through the application's exception handlers like any other route's (problem+json).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope


class DirectRoute(APIRoute):
    """An API route served by a plain Starlette route ahead of FastAPI's router (see the module)."""


class ServedRoute(Route):
    """The plain route serving a :class:`DirectRoute`. It names itself in the scope as FastAPI's
    routes do, so that the error log says which route failed."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE:
            child_scope["route"] = self
        return match, child_scope


def serve_directly(app: FastAPI, routes: Iterable[BaseRoute]) -> None:
    """Puts a :class:`ServedRoute` for each :class:`DirectRoute` of ``routes`` ahead of the app's routes.

    The DirectRoute stays where it was declared, so that OpenAPI documents it; requests never
    reach it, as the plain route for the same path and methods matches first. A request with
    another method gets the plain route's 405, as it would have got the DirectRoute's.

    Raises TypeError for a DirectRoute that declares anything FastAPI would have resolved for it
    (dependencies, parameters, a body model): the plain route would silently skip it, and an
    authorisation dependency skipped is a hole.
    """
    direct = []
    for route in routes:
        if not isinstance(route, DirectRoute):
            continue
        unresolved = _fastapi_parameters(route)
        if unresolved:
            raise TypeError(
                f"{route.path}: a direct route's endpoint takes only the Request; "
                f"FastAPI would have resolved {', '.join(unresolved)} for it"
            )
        direct.append(
            ServedRoute(route.path, route.endpoint, methods=sorted(route.methods or ()), name=route.name)
        )
    app.router.routes[:0] = direct


def _fastapi_parameters(route: APIRoute) -> list[str]:
    dependant: Any = route.dependant  # the route's own dependencies are among its dependant's
    found = [f"dependency {getattr(d.call, '__name__', d.call)!r}" for d in dependant.dependencies]
    for kind in ("path_params", "query_params", "header_params", "cookie_params", "body_params"):
        found += [f"{kind[:-7]} parameter {p.name!r}" for p in getattr(dependant, kind)]
    return found
