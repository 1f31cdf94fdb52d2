"""``lienthong simulate <system>``: one agency simulator as a real server (:mod:`simulators`)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from simulators.server import Faults, SimulatorServer
from simulators.systems import factory


def simulator_server(
    system: str,
    host: str,
    port: int,
    faults: Mapping[str, Any],
    *,
    seed: int | None,
    state: Path | None,
) -> SimulatorServer:
    """The server of ``system``'s simulator; ValueError naming the known systems if there is none.
    ``faults`` are :class:`Faults`' flags by name; ``seed`` None keeps the shared data's seed;
    ``state`` is the portal's file."""
    create = factory(system)
    options: dict[str, Any] = {} if seed is None else {"seed": seed}
    if state is not None:
        options["state"] = state
    application, _ = create(Faults(**faults), **options)
    return SimulatorServer(application, host=host, port=port)
