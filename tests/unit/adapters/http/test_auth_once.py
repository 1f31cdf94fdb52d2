"""adapters/http/auth.py with the rate limiter before it: a request's key is hashed once, by the
limiter, whose finding the route takes; a directory replaced in between (a reload) is asked again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Receive, Scope, Send

import router.directory
from adapters.http.auth import Authenticated
from adapters.http.error_handlers import add_error_handlers
from adapters.http.limits import InputLimits
from adapters.http.rate_limit import FailedAuthentications, RateLimitedRequests, RateLimitMiddleware
from router.bus import Bus, Generation
from router.directory import Directory, System, new_api_key
from router.rate_limits import CallerLimiter, Limits, LocalRateStore

SYSTEM = "000.00.00.H49/motcua"
KEY, KEY_HASH = new_api_key(SYSTEM)
_, ROTATED_HASH = new_api_key(SYSTEM)  # the hash of the key that replaced KEY


def directory(*hashes: str) -> Directory:
    return Directory([System(SYSTEM, "000.00.00.H49", "motcua", api_key_hashes=hashes)])


def bus_of(found: Directory) -> Bus:
    nothing: Any = None
    return Bus(found, nothing, nothing, nothing, nothing, nothing, [], lambda name: None)


class SwapOn:
    """Replaces the bus's directory on one path, after the limiter and before the route (a reload
    landing in between)."""

    def __init__(self, app: ASGIApp, bus: Bus, path: str, replacement: Directory) -> None:
        self.app, self.bus, self.path, self.replacement = app, bus, path, replacement

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path:
            now = self.bus.generation
            self.bus.swap(Generation(self.replacement, now.policy, now.catalogue, now.publisher, {}))
        await self.app(scope, receive, send)


def app_of(bus: Bus, replacement: Directory) -> FastAPI:
    app = FastAPI()
    app.state.bus = bus
    add_error_handlers(app)

    @app.get("/who")
    @app.get("/reloaded")
    async def who(caller: Authenticated) -> str:
        return caller.id

    @app.post("/who")  # a body InputLimits reads only once the key is checked
    async def who_with_body(caller: Authenticated, body: dict[str, str]) -> str:
        return f"{caller.id} {body['say']}"

    def identify(key: str) -> System | None:  # by the directory in force when asked
        return bus.directory.authenticate(key)

    registry = CollectorRegistry()
    app.add_middleware(InputLimits, max_body_bytes=1024, max_headers=50, routes=lambda: app.routes)
    app.add_middleware(SwapOn, bus=bus, path="/reloaded", replacement=replacement)
    app.add_middleware(
        RateLimitMiddleware,
        limiter=CallerLimiter(LocalRateStore(), Limits),
        identify=identify,
        failures=FailedAuthentications(registry),
        refusals=RateLimitedRequests(registry),
    )
    return app


@pytest.fixture
def hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The keys hashed, in order."""
    seen: list[str] = []
    real: Callable[[str], str] = router.directory.hash_api_key

    def counting(key: str) -> str:
        seen.append(key)
        return real(key)

    monkeypatch.setattr(router.directory, "hash_api_key", counting)
    yield seen


async def call(app: FastAPI, path: str, key: str) -> httpx.Response:
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bus") as client:
        return await client.get(path, headers={"Authorization": f"Bearer {key}"})


async def test_the_route_takes_the_system_the_limiter_found_and_hashes_nothing(hashes: list[str]) -> None:
    bus = bus_of(directory(KEY_HASH))
    reply = await call(app_of(bus, directory(KEY_HASH)), "/who", KEY)
    assert (reply.status_code, reply.json()) == (200, SYSTEM)
    assert hashes == [KEY]


async def test_a_body_read_after_the_key_check_costs_no_second_hash(hashes: list[str]) -> None:
    app = app_of(bus_of(directory(KEY_HASH)), directory(KEY_HASH))
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bus") as client:
        reply = await client.post("/who", json={"say": "hi"}, headers={"Authorization": f"Bearer {KEY}"})
    assert (reply.status_code, reply.json()) == (200, f"{SYSTEM} hi")
    assert hashes == [KEY]


async def test_a_directory_replaced_after_the_limiter_is_asked_again(hashes: list[str]) -> None:
    bus = bus_of(directory(KEY_HASH))
    reply = await call(app_of(bus, directory(ROTATED_HASH)), "/reloaded", KEY)
    assert reply.status_code == 401
    assert hashes == [KEY, KEY]


async def test_an_unchanged_system_in_a_new_directory_is_asked_again_and_found(hashes: list[str]) -> None:
    bus = bus_of(directory(KEY_HASH))
    reply = await call(app_of(bus, directory(KEY_HASH)), "/reloaded", KEY)
    assert (reply.status_code, reply.json()) == (200, SYSTEM)
    assert hashes == [KEY, KEY]
