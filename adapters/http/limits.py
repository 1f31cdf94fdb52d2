"""Bounds on every request, enforced before the application reads its body or checks anything
costly: the number of headers, the size of the body, and the API key of a route that needs one.

:class:`InputLimits` is an ASGI middleware in front of the routes:

- more than ``max_headers`` headers: ``431 headers_too_large`` (the size of the head is bounded
  earlier, by the server's protocol: :mod:`adapters.http.head_limit`);
- a ``Content-Length`` over ``max_body_bytes``: ``413 payload_too_large`` at once, nothing read;
- a body streamed without a length (chunked) is counted as it arrives and cut at the limit with
  the same 413; the application then sees the client gone, and what it answers is dropped;
- a route whose body FastAPI reads before solving its dependencies (a pydantic body model) and
  that needs an API key: the key is checked before one byte of the body is read (401).

Each refusal closes the connection (``Connection: close``), so that the rest of a body nobody
reads is not received either. The hot routes (:mod:`adapters.http.direct`) authenticate first and
read their body bounded themselves (:func:`adapters.http.body.read_bounded`), counting their
refusals in the bus's metrics: the middleware leaves their bodies to them, and closes the
connection after an answer they give before their body has arrived in full.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.http import problems
from adapters.http.auth import current_caller
from adapters.http.direct import DirectRoute
from router.errors import LienthongError, PayloadTooLarge

DEFAULT_MAX_HEADERS = 100
_CLOSE = {"Connection": "close"}


def _body_announced(headers: Sequence[tuple[bytes, bytes]]) -> tuple[int | None, bool]:
    """The declared length (None when not declared or not a number) and whether a body follows."""
    length: int | None = None
    streamed = False
    for name, value in headers:
        if name == b"content-length" and value.isdigit():
            length = int(value)
        elif name == b"transfer-encoding":
            streamed = True
    return length, streamed or bool(length)


def _needs_key(route: APIRoute) -> bool:
    """Whether one of the route's dependencies, however deep, is the API key check."""
    stack = list(route.dependant.dependencies)
    while stack:
        dependant = stack.pop()
        if dependant.call is current_caller:
            return True
        stack.extend(dependant.dependencies)
    return False


class InputLimits:
    """The ASGI middleware (see the module); ``routes()`` are the routes of the routers the
    application includes, in order (FastAPI's own list holds the routers included, not their routes)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_headers: int,
        routes: Callable[[], Sequence[BaseRoute]],
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_headers = max_headers
        self.routes = routes
        self._keyed: dict[int, bool] = {}  # by id of a FastAPI route: it needs a key
        # the hot routes, which the application serves ahead of all others (adapters.http.direct):
        # read from ``routes()`` at the first request, when every router has its routes
        self._direct: tuple[DirectRoute, ...] | None = None
        self._direct_by_path: dict[str, DirectRoute] = {}  # those without path parameters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope["headers"]
        if len(headers) > self.max_headers:
            too_many = problems.HeadersTooLarge(f"the request has more than {self.max_headers} headers")
            await self._refuse(too_many, scope, receive, send)
            return
        length, has_body = _body_announced(headers)
        if not has_body:
            await self.app(scope, receive, send)
            return
        route = self._route(scope)
        if isinstance(route, DirectRoute):
            await self._closing_if_unread(scope, receive, send)  # it authenticates, then reads bounded
            return
        if length is not None and length > self.max_body_bytes:
            too_large = PayloadTooLarge(f"the body is {length} bytes; the limit is {self.max_body_bytes}")
            await self._refuse(too_large, scope, receive, send)
            return
        if isinstance(route, APIRoute) and self._route_needs_key(route):
            try:
                await current_caller(Request(scope))
            except LienthongError as error:
                await self._refuse(error, scope, receive, send)
                return
        await self._bounded(scope, receive, send)

    def _route(self, scope: Scope) -> BaseRoute | None:
        """The route that serves the request, found as the router finds it: the hot routes
        first, then the first full match in order."""
        if self._direct is None:
            self._direct = tuple(r for r in self.routes() if isinstance(r, DirectRoute))
            for hot in self._direct:
                if not hot.param_convertors:
                    self._direct_by_path.setdefault(hot.path, hot)
        if not scope.get("root_path"):
            # the path itself names a hot route, and the method is one of its own: the full match
            # its regular expression and method check would find, without trying each route
            found = self._direct_by_path.get(scope["path"])
            if found is not None and scope["method"] in (found.methods or ()):
                return found
        for direct in self._direct:
            match, _ = direct.matches(scope)
            if match is Match.FULL:
                return direct
        for route in self.routes():
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route
        return None

    def _route_needs_key(self, route: APIRoute) -> bool:
        found = self._keyed.get(id(route))
        if found is None:
            found = self._keyed[id(route)] = _needs_key(route)
        return found

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Runs the application with its body cut at the limit (see the module)."""
        received = 0
        cut = False
        started = False

        async def counted() -> Message:
            nonlocal received, cut
            if cut:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    cut = True
                    if not started:
                        too_large = PayloadTooLarge(
                            f"the body exceeds the limit of {self.max_body_bytes} bytes"
                        )
                        await problems.from_error(too_large, scope["path"], dict(_CLOSE))(
                            scope, receive, send
                        )
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if cut:
                return  # the 413 is the answer; the application's answer to a gone client is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted, guarded)

    async def _closing_if_unread(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Runs a hot route; an answer it starts before its body has arrived in full (a refusal: no
        key, a body too large) closes the connection, so the rest of a body nobody reads is not
        received either (the server would otherwise drain it to reach the next request)."""
        complete = False

        async def tracked() -> Message:
            nonlocal complete
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start" and not complete:
                kept = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != b"connection"
                ]
                message = {**message, "headers": [*kept, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, tracked, closing)

    async def _refuse(self, error: LienthongError, scope: Scope, receive: Receive, send: Send) -> None:
        await problems.from_error(error, scope["path"], dict(_CLOSE))(scope, receive, send)
