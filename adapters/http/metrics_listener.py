"""``/metrics`` on an internal listener of its own (``http.metrics_listen``), and not on the
public one: the figures (subscriptions, systems, error rates) are for the monitoring system, not
for whoever reaches the API.

The server listens on both sockets and runs one application; :class:`MetricsListener` tells
them apart by the local port a request came in on (``scope["server"]``) and answers
``404 not_found`` to ``/metrics`` on the public listener and to anything else on the internal one.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from adapters.http import problems
from router.errors import NotFound

METRICS_PATH = "/metrics"


class MetricsListener:
    """The ASGI middleware (see the module); ``port`` is the internal listener's."""

    def __init__(self, app: ASGIApp, port: int) -> None:
        self.app = app
        self.port = port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            server = scope.get("server")
            internal = server is not None and server[1] == self.port
            if internal != (scope["path"] == METRICS_PATH):
                listener = "internal" if internal else "public"
                missing = NotFound(f"no route {scope['path']} on the {listener} listener")
                await problems.from_error(missing, scope["path"])(scope, receive, send)
                return
        await self.app(scope, receive, send)
