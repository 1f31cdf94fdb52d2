"""The agency simulators by name, as ``lienthong simulate <system>`` and the demo start them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, Protocol, cast

from starlette.types import ASGIApp

from simulators import (
    business,
    citizen_store,
    gateway,
    population,
    portal,
    rest_openapi_insurance,
    soap12_land,
    vehicle,
)
from simulators.onestop import receiver
from simulators.server import Faults, SimulatorState

SimulatedSystem = Literal[
    "population",
    "business",
    "vehicle",
    "onestop",
    "portal",
    "citizen_store",
    "gateway",
    "land",
    "insurance",
]


class AppFactory(Protocol):
    def __call__(
        self, faults: Faults | None = None, *, seed: int = ...
    ) -> tuple[ASGIApp, SimulatorState]: ...


SYSTEMS: Final[Mapping[SimulatedSystem, AppFactory]] = {
    "population": population.create_app,
    "business": business.create_app,
    "vehicle": vehicle.create_app,
    "onestop": receiver.create_app,
    "portal": portal.create_app,
    "citizen_store": citizen_store.create_app,
    "gateway": gateway.create_app,
    "land": soap12_land.serve,
    "insurance": rest_openapi_insurance.serve,
}


def factory(system: str) -> AppFactory:
    if system not in SYSTEMS:
        raise ValueError(f"no simulator {system!r}; known: {', '.join(sorted(SYSTEMS))}")
    return SYSTEMS[cast(SimulatedSystem, system)]  # one of the keys, as checked above
