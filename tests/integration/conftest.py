"""Fixtures the integration tests share: webhook receivers and the registry simulators on
loopback, and the bus.

A module that wants one bus for all its tests defines ``bus_config`` (module scope: the
configuration, with any environment it needs held while the fixture is open) and asks for ``bus``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from simulators.server import SimulatorServer
from tests.support.bus import BusConfig, BusProcess
from tests.support.evidence import registries
from tests.support.receiver import Receiver


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """A webhook receiver shared by the module's tests; a test that counts calls ``reset()`` first."""
    with Receiver() as running:
        yield running


@pytest.fixture
def portal() -> Iterator[Receiver]:
    """A webhook receiver of the test's own, standing for the portal's endpoint."""
    with Receiver() as running:
        yield running


@pytest.fixture(scope="module")
def bus(bus_config: BusConfig) -> Iterator[BusProcess]:
    """``lienthong serve`` on the module's ``bus_config``, shared by the module's tests."""
    with BusProcess(bus_config) as running:
        yield running


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, SimulatorServer]]:
    """The registry simulators (population, business, vehicle), shared by the module's tests; a
    module that wants them fresh for each test keeps a fixture of its own."""
    with registries() as running:
        yield running
