"""The simulators are demo and test material: the CLI names them without loading them, and the
production modules never import them."""

from __future__ import annotations

import subprocess
import sys
from typing import get_args

import pytest

from connectors.base import ConnectorKind
from lienthong.cli import SIMULATED_SYSTEMS
from lienthong.demo.stage import CONFIGURED_KINDS, SIMULATOR_OF_KIND
from simulators.systems import SYSTEMS, SimulatedSystem


def test_the_cli_names_every_simulator() -> None:
    assert list(SYSTEMS) == list(get_args(SimulatedSystem))
    assert ", ".join(SYSTEMS) == SIMULATED_SYSTEMS


def test_the_demo_has_a_simulator_of_every_connector_kind() -> None:
    coded = [kind for kind in get_args(ConnectorKind) if kind not in CONFIGURED_KINDS]
    assert list(SIMULATOR_OF_KIND) == coded
    assert set(get_args(ConnectorKind)) >= CONFIGURED_KINDS


@pytest.mark.slow  # a Python process of its own, to see what the bus imports from nothing
def test_the_bus_loads_no_simulator_and_no_demo() -> None:
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, lienthong.cli, lienthong.runtime\n"
            "import connectors.generic.soap, connectors.generic.rest, connectors.portal.connector\n"
            "import connectors.citizen_store.connector\n"
            "print(' '.join(m for m in sys.modules if m.startswith(('simulators', 'lienthong.demo'))))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.split() == []
