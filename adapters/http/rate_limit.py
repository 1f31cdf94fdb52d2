"""Limits per caller on the HTTP API (router.rate_limits), applied before any route runs: a request
over its limit is answered ``429 rate_limited`` with ``Retry-After`` and nothing else is done.

The caller is the system whose API key is the bearer token, or, without a valid one, the client
address. Failed authentications (a 401 from any route) are logged with the address, the route
class and the reason, never the key nor the path (a path may name a person), counted in
``lienthong_failed_authentications_total``, and spend the address's failed-authentication limit,
so that a key-guessing flood gets 429. Each 429 counts in ``lienthong_rate_limited_total``, by route
class and the limit that refused it.

A plain ASGI middleware rather than a FastAPI dependency: the hot-path routes
(adapters/http/direct.py) run no dependencies, and a refused request should cost no routing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.http import problems
from adapters.http.auth import bearer_token, note_identified
from adapters.http.responses import errors
from router.directory import System
from router.rate_limits import CallerLimiter, RateLimited, RouteClass

log = logging.getLogger("lienthong.http")

# the orchestrator's probes: never limited, whoever shares their address
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz"})
ACCESS_LOG_SUFFIX = "/access-log"


def route_class(method: str, path: str) -> RouteClass:
    """The class of a request, by its path (the limits are per class)."""
    if path == "/v1/events":
        return RouteClass.PUBLISH
    if path.startswith("/v1/evidence"):
        return RouteClass.EVIDENCE
    if path.startswith("/v1/subjects/") and path.endswith(ACCESS_LOG_SUFFIX):
        return RouteClass.ACCESS_LOG
    if path == "/console/login" and method == "POST":
        return RouteClass.CONSOLE_LOGIN
    return RouteClass.DEFAULT


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return bearer_token(value.decode("latin-1"))
    return None


def retry_after(seconds: float) -> str:
    """``Retry-After`` in whole seconds, at least 1 (RFC 9110 allows no fraction)."""
    return str(max(1, math.ceil(seconds)))


RETRY_AFTER_HEADER: dict[str, Any] = {
    "description": "whole seconds until a request of this kind is admitted again",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9]+$"},
}


def document_rate_limits(document: dict[str, Any]) -> None:
    """The OpenAPI part (adapters.http.openapi.DocumentPart): every operation but the probes may
    answer 429 ``rate_limited`` with ``Retry-After``."""
    response = errors(RateLimited)[429]
    response["headers"] = {"Retry-After": RETRY_AFTER_HEADER}
    for path, operations in document.get("paths", {}).items():
        if path in UNLIMITED_PATHS:
            continue
        for operation in operations.values():
            operation["responses"]["429"] = response


class FailedAuthentications:
    """The log line and the counter of a refused authentication."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._counter = Counter(
            "lienthong_failed_authentications",
            "Requests refused 401 (no key, an unknown key, a refused console login), by route class "
            "and reason.",
            ["route_class", "reason"],
            registry=registry,
        )

    def failed(self, address: str, route: RouteClass, reason: str, method: str) -> None:
        self._counter.labels(route.value, reason).inc()
        log.warning("failed authentication from %s: %s %s request, %s", address, method, route.value, reason)


class RateLimitedRequests:
    """The counter of requests refused 429."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._counter = Counter(
            "lienthong_rate_limited",
            "Requests refused 429 rate_limited, by route class and the limit that refused them "
            "(system_limit, address_limit, failed_authentications).",
            ["route_class", "reason"],
            registry=registry,
        )

    def refused(self, route: RouteClass, reason: str) -> None:
        self._counter.labels(route.value, reason).inc()


class RateLimitMiddleware:
    """``identify(key)`` is the system holding the API key ``key`` in the directory in force, or
    None; the system found is noted in the request's scope for the route
    (:func:`adapters.http.auth.note_identified`)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: CallerLimiter,
        identify: Callable[[str], System | None],
        failures: FailedAuthentications,
        refusals: RateLimitedRequests,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.identify = identify
        self.failures = failures
        self.refusals = refusals

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        route = route_class(scope["method"], scope["path"])
        token = _bearer(scope)
        system = self.identify(token) if token else None
        if system is not None and token is not None:
            note_identified(scope, token, system)
        client = scope.get("client")
        address = client[0] if client else "unknown"
        try:
            if system is not None:
                await self.limiter.system(system.id, route)
            else:
                await self.limiter.address(address, route)
        except RateLimited as refused:
            self.refusals.refused(route, refused.reason)
            # the connection closes too: nothing more the refused caller sends is read
            answer = problems.from_error(
                refused,
                scope["path"],
                {"Retry-After": retry_after(refused.retry_after_s), "Connection": "close"},
            )
            await answer(scope, receive, send)
            return
        status = 0

        async def watched(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watched)
        if status == 401:
            await self.limiter.failed_authentication(address)
            self.failures.failed(address, route, _reason(route, token, system), scope["method"])


def _reason(route: RouteClass, token: str | None, system: System | None) -> str:
    if route is RouteClass.CONSOLE_LOGIN:
        return "console_login_refused"
    if token is None:
        return "no_key"
    if system is None:
        return "unknown_key"
    return "refused"  # a valid key refused by the route (its keys changed during the request)
