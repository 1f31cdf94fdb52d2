"""Starting the agency simulators on free loopback ports, and reading their counters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict

import httpx
from starlette.types import ASGIApp

from connectors.simulation import Faults, SimulatorServer, SimulatorState


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


__all__ = ["Faults", "SimulatorState", "requests_seen", "serving", "set_faults"]
