"""Hot-path routes: documented by FastAPI, served by Starlette directly.

FastAPI's router checks a request against every route declared before the one that matches,
then solves the route's dependencies and wraps the call in its own request and response
machinery. In this FastAPI that costs about 200 µs per request (``docs/benchmarks.md``), more
than a cached evidence query does itself. The routes on the hot paths (a publish, an evidence
query) are therefore declared on an ``APIRouter(route_class=DirectRoute)``: FastAPI builds their
OpenAPI entries as for any route, and :func:`serve_directly` puts a plain Starlette route for each
ahead of all the others, which is the one requests reach.

Their endpoints take only the ``Request``: they authenticate with
:func:`adapters.http.auth.current_caller` and read their body themselves. Errors they raise go
through the application's exception handlers like any other route's (problem+json).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Route


class DirectRoute(APIRoute):
    """An API route served by a plain Starlette route ahead of FastAPI's router (see the module)."""


def serve_directly(app: FastAPI, routes: Iterable[BaseRoute]) -> None:
    """Puts a Starlette route for each :class:`DirectRoute` of ``routes`` ahead of the app's routes.

    The DirectRoute stays where it was declared, so that OpenAPI documents it; requests never
    reach it, as the plain route for the same path and methods matches first. A request with
    another method gets the plain route's 405, as it would have got the DirectRoute's.
    """
    direct = [
        Route(route.path, route.endpoint, methods=sorted(route.methods or ()), name=route.name)
        for route in routes
        if isinstance(route, DirectRoute)
    ]
    app.router.routes[:0] = direct
