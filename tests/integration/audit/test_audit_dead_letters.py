"""Reading dead letters that hold personal data the bus released is an access, recorded: the
broker collects a dossier's evidence from the real registry simulators, its delivery to the
one-stop system fails until it is dead-lettered, an operator lists the dead letters through the
API, and the person whose data they hold finds that reading in the audit log."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.server import SimulatorServer
from tests.integration.evidence.test_evidence_collection import (
    MANAGER,
    PLATES,
    STRUCTURED,
    licence_dossier,
    with_receiver,
)
from tests.support.bus import ONESTOP, OPERATOR, BusProcess
from tests.support.cli import lienthong
from tests.support.evidence import AUDIT_KEY, AUDIT_KEY_ENV, evidence_config, registries
from tests.support.receiver import Fault, Receiver

OFFICIAL = "canbo.vanhanh.02"
SUBSCRIPTION = "onestop-evidence"


@pytest.fixture
def servers() -> Iterator[dict[str, SimulatorServer]]:
    with registries() as servers:
        yield servers


async def test_listing_dead_letters_of_collected_evidence_is_recorded_for_each_person(
    tmp_path: Path, servers: dict[str, SimulatorServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
    with Receiver("/evidence") as receiver:
        receiver.fail_when(lambda request: True, Fault(503))  # the one-stop system is down
        urls = {name: server.url for name, server in servers.items()}
        config = with_receiver(evidence_config(tmp_path, urls, broker=True), receiver)
        config.subscriptions[-1]["retry"] = {
            "max_attempts": 2, "max_elapsed": "2s", "initial_backoff": "20ms", "max_backoff": "50ms",
        }  # fmt: skip
        with BusProcess(config) as bus:
            async with bus.async_client(ONESTOP) as onestop, bus.async_client(OPERATOR) as operator:
                code = "000.00.00.H49-261127-0042"
                reply = await onestop.post(
                    "/v1/events", json=licence_dossier(code, PLATES), headers=STRUCTURED
                )
                assert reply.status_code == 202, reply.text
                deadline = time.monotonic() + 60
                while (await operator.get(f"/v1/subscriptions/{SUBSCRIPTION}")).json()["dead_letters"] < 1:
                    assert time.monotonic() < deadline, "the collection was not dead-lettered"
                    await asyncio.sleep(0.1)
                listed = await operator.get(
                    f"/v1/subscriptions/{SUBSCRIPTION}/dead-letters", headers={"X-Official-Id": OFFICIAL}
                )
                assert listed.status_code == 200, listed.text
                [letter] = listed.json()
                datasets = {item["dataset"] for item in letter["event"]["data"]["found"]}
                assert "citizen.identity" in datasets  # the transport manager's identity, released
    # the transport manager's own records: the query that released the data, and this reading
    shown = lienthong("audit", "show", "--config", str(bus.path), "--subject", MANAGER)
    assert shown.returncode == 0, shown.stderr
    readings = [line.split("\t") for line in shown.stdout.splitlines() if "dead_letter_inspection" in line]
    assert len(readings) == 1, shown.stdout
    [reading] = readings
    assert (
        reading[2].startswith(OPERATOR) and reading[3] == f"{OFFICIAL} [asserted]"
    )  # named by the system, not verified
    assert reading[4:] == ["citizen.identity", "dead_letter_inspection", "1.002861", code, "released"]
    assert any("dossier_processing" in line and ONESTOP in line for line in shown.stdout.splitlines())
