"""The agency simulators by name, as ``lienthong simulate <system>`` starts them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Protocol

from starlette.types import ASGIApp

from connectors.simulation import Faults, SimulatorState

# system name -> module holding its ``create_app``; imported on demand
SYSTEMS = {
    "population": "connectors.population.simulator",
    "business": "connectors.business.simulator",
    "vehicle": "connectors.vehicle.simulator",
    "onestop": "connectors.onestop.simulator",
    "portal": "connectors.portal.simulator",
    "citizen_store": "connectors.citizen_store.simulator",
}


class AppFactory(Protocol):
    def __call__(
        self, faults: Faults | None = None, *, seed: int = ...
    ) -> tuple[ASGIApp, SimulatorState]: ...


def factory(system: str) -> AppFactory:
    if system not in SYSTEMS:
        raise ValueError(f"no simulator {system!r}; known: {', '.join(sorted(SYSTEMS))}")
    create: Callable[..., tuple[ASGIApp, SimulatorState]] = importlib.import_module(
        SYSTEMS[system]
    ).create_app
    return create
