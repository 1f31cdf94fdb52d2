"""Released personal data stays with its recipient, end to end: the one-stop system submits a
dossier to the bus under uvicorn; the evidence broker pulls the records from the real registry
simulators and publishes ``dossier.evidence.collected`` for the one-stop system. Its webhook
receiver gets the records; the portal's subscription to every type, whose receiver refuses
everything so that all it is given becomes a dead letter, gets none of them, and its dead
letters hold none.

The bus runs on a copy of the contracts that leaves out the type's ``released_personal_data``
declaration (a deployment's own ``schemas.path``), so the configuration check cannot refuse the
portal's subscription: what keeps the records out is the router's rule that an event naming a
``recipient`` is for that system only (router.recipients)."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulators.server import SimulatorServer
from tests.support.bus import ONESTOP, PORTAL, BusProcess
from tests.support.events import delivered, status_changed
from tests.support.evidence import (
    AUDIT_KEY,
    AUDIT_KEY_ENV,
    REGISTRY,
    evidence_config,
    registries,
    submitted_event,
    transport_firm,
)
from tests.support.paths import ROOT
from tests.support.prometheus import sample
from tests.support.receiver import Fault, Receiver

COLLECTED = "dossier.evidence.collected"
CONTRACTS = ROOT / "schemas" / "events"
STRUCTURED = {"Content-Type": "application/cloudevents+json"}
TAX, MANAGER, PLATES = transport_firm()


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, SimulatorServer]]:
    monkeypatch.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
    with registries() as servers:
        yield servers


def undeclared_contracts(directory: Path) -> Path:
    """The shipped contracts, but for the declaration that the type carries released data."""
    copy = directory / "contracts"
    shutil.copytree(CONTRACTS, copy)
    type_file = copy / COLLECTED / "type.json"
    settings = json.loads(type_file.read_text("utf-8"))
    del settings["released_personal_data"]
    type_file.write_text(json.dumps(settings), "utf-8")
    return copy


def licence_dossier(code: str) -> dict[str, Any]:
    firm = REGISTRY.enterprise(TAX)
    assert firm is not None
    return submitted_event(
        code,
        "1.002861",
        {
            "procedureName": "Cấp Giấy phép kinh doanh vận tải bằng xe ô tô",
            "applicant": {"type": "business", "name": firm.name, "taxCode": TAX},
            "representative": {"personalId": MANAGER, "role": "transport_manager"},
            "vehicles": [{"plate": p} for p in PLATES],
        },
    )


async def letters_through(client: httpx.AsyncClient, name: str, event_id: str) -> str:
    """The subscription's dead-letter listing, as its system reads it, once the letter of
    ``event_id`` is in it (a sentinel: tests/support/sentinels.py)."""
    deadline = time.monotonic() + 30
    while True:
        reply = await client.get(f"/v1/subscriptions/{name}/dead-letters", params={"limit": 1000})
        assert reply.status_code == 200, reply.text
        if any(letter["event_id"] == event_id for letter in reply.json()):
            return reply.text
        if time.monotonic() > deadline:
            raise TimeoutError(f"no dead letter of {event_id} in {name}: {reply.text[:2000]}")
        await asyncio.sleep(0.05)


async def test_the_recipient_gets_the_released_records_and_a_wildcard_subscriber_does_not(
    tmp_path: Path, servers: dict[str, SimulatorServer]
) -> None:
    code = "000.00.00.H49-240502-0001"
    with Receiver("/evidence") as onestop, Receiver("/everything") as portal:
        portal.fail_when(lambda request: True, Fault(400))
        config = evidence_config(tmp_path, {n: s.url for n, s in servers.items()}, broker=True)
        config.sections["schemas"] = {"path": str(undeclared_contracts(tmp_path))}
        # one partition: the sentinel is routed and delivered after everything published before it
        config.partitions = 1
        config.subscribe(
            "onestop-evidence",
            onestop.url,
            system=ONESTOP,
            types=(COLLECTED,),
            filters=({"exact": {"recipient": ONESTOP}},),
        )
        config.subscribe("portal-everything", portal.url, system=PORTAL, types=())
        with BusProcess(config) as bus:
            async with bus.async_client(ONESTOP) as client:
                reply = await client.post("/v1/events", json=licence_dossier(code), headers=STRUCTURED)
                assert reply.status_code == 202, reply.text
                await onestop.wait_for(1, timeout=30)
                sentinel = status_changed(0, 1)
                reply = await client.post("/v1/events", json=sentinel, headers=STRUCTURED)
                assert reply.status_code == 202, reply.text
            async with bus.async_client(PORTAL) as client:
                listing = await letters_through(client, "portal-everything", sentinel["id"])
                # the router put the submission and the sentinel on the portal's queue, nothing else
                routed = await sample(
                    client, "lienthong_events_routed_total", subscription="portal-everything"
                )
    [event] = delivered(onestop.received)
    assert event["type"] == COLLECTED and event["recipient"] == ONESTOP
    [identity] = [f for f in event["data"]["found"] if f["dataset"] == "citizen.identity"]
    released_name = identity["data"]["fullName"]  # in no submission: only the registry holds it
    assert released_name

    assert routed == 2
    # the portal was given the submission and the sentinel, and nothing the broker released
    assert [request.headers["ce-id"] for request in portal.requests] == [f"submitted-{code}", sentinel["id"]]
    given = [request.body.decode("utf-8") for request in portal.requests]
    assert not any(released_name in body for body in given)
    letters = json.loads(listing)
    assert [letter["event"]["type"] for letter in letters] == ["dossier.submitted", "dossier.status.changed"]
    assert COLLECTED not in listing and released_name not in listing
