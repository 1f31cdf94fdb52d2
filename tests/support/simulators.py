"""Starting the agency simulators on free loopback ports, and reading their counters."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import httpx
from starlette.types import ASGIApp

from simulators.server import Faults, SimulatorServer, SimulatorState


@contextmanager
def serving(app: ASGIApp, port: int = 0) -> Iterator[SimulatorServer]:
    server = SimulatorServer(app, port=port).start()
    try:
        yield server
    finally:
        server.stop()


def requests_seen(url: str) -> int:
    count: int = httpx.get(f"{url}/_sim/stats", timeout=5).json()["requests"]
    return count


def set_faults(url: str, faults: Faults) -> None:
    httpx.put(f"{url}/_sim/faults", json=asdict(faults), timeout=5).raise_for_status()


class HeaderLog:
    """Wraps an ASGI app (a registry simulator) and keeps the headers of every HTTP request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.requests: list[dict[str, str]] = []

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
        await self.app(scope, receive, send)


__all__ = ["Faults", "HeaderLog", "SimulatorState", "requests_seen", "serving", "set_faults"]
