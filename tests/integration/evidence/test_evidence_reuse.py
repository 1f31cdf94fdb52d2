"""Reuse of an earlier result, end to end: the transport business licence that an agency issued
(a signed ``dossier.result.issued``) goes into the citizen data store through the bus; when the
same enterprise later applies for vehicle badges, the evidence broker finds the licence there
(dataset ``result.document``) along with the registries' data, and nothing is asked again. A result
the store does not hold is named by its key's kind, never by the holder's identifier, in the
problem reply and in the published event."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulators.citizen_store import ResultStore, create_app
from simulators.server import SimulatorServer
from tests.support.bus import ONESTOP, WAREHOUSE, BusConfig, BusProcess
from tests.support.events import delivered
from tests.support.evidence import (
    AUDIT_KEY,
    AUDIT_KEY_ENV,
    REGISTRY,
    evidence_config,
    query_body,
    registries,
    submitted_event,
    transport_firm,
)
from tests.support.receiver import Receiver
from tests.support.results import SigningPki, result
from tests.support.simulators import serving

TAX, MANAGER, PLATES = transport_firm()
LICENCE, BADGE = "1.002861", "1.002856"
STRUCTURED = {"Content-Type": "application/cloudevents+json"}


def store_config(
    tmp_path: Path, servers: Mapping[str, SimulatorServer], store_url: str, anchors: Path, receiver_url: str
) -> BusConfig:
    """The evidence broker over the registries and the citizen data store (``kho-ketqua``,
    trusting ``anchors``), the one-stop system subscribed to its evidence."""
    config = evidence_config(
        tmp_path,
        {name: server.url for name, server in servers.items()},
        broker=True,
        extra_datasets=["result.document"],
        extra_connectors=[
            {
                "name": "kho-ketqua",
                "kind": "citizen_store",
                "url": store_url,
                "timeout": "2s",
                "options": {"trust_anchors": anchors.name},
            }
        ],
    )
    config.subscribe(
        "onestop-evidence",
        receiver_url,
        system=ONESTOP,
        types=("dossier.evidence.collected",),
        filters=({"exact": {"recipient": ONESTOP}},),
    )
    return config


def badge_event(code: str, firm_name: str) -> dict[str, Any]:
    """The firm's application for vehicle badges, naming its vehicles."""
    return submitted_event(
        code,
        BADGE,
        {
            "applicant": {"type": "business", "name": firm_name, "taxCode": TAX},
            "vehicles": [{"plate": p} for p in PLATES],
        },
    )


async def test_the_badge_procedure_reuses_the_licence_issued_earlier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
    firm = REGISTRY.enterprise(TAX)
    assert firm is not None
    pki = SigningPki()
    anchors = pki.write_anchors(tmp_path)
    store_app, _ = create_app(store=ResultStore(tmp_path / "store.db"))
    with registries() as servers, serving(store_app) as store, Receiver("/evidence") as receiver:
        config = store_config(tmp_path, servers, store.url, anchors, receiver.url)
        config.extra_policies.append({"systems": [WAREHOUSE], "subscribe": ["dossier.result.issued"]})
        config.subscriptions.append(
            {
                "name": "citizen-store",
                "system": WAREHOUSE,
                "types": ["dossier.result.issued"],
                "sink": {"connector": {"name": "kho-ketqua"}},
            }
        )
        licence = pki.signed(
            result(
                7,
                procedureCode=LICENCE,
                resultCode="14-00001/GPKDVT",
                holder={"taxCode": TAX, "name": firm.name},
            )
        )
        issued = {
            "specversion": "1.0",
            "id": "licence-issued",
            "source": ONESTOP,
            "type": "dossier.result.issued",
            "subject": licence["dossierCode"],
            "datacontenttype": "application/json",
            "data": licence,
        }
        badge = badge_event("000.00.00.H49-240502-0042", firm.name)
        with BusProcess(config) as bus:
            async with bus.async_client(ONESTOP) as client:
                assert (await client.post("/v1/events", json=issued, headers=STRUCTURED)).status_code == 202
                deadline = time.monotonic() + 20
                while not httpx.get(f"{store.url}/_sim/results", timeout=5).json()["results"]:
                    assert time.monotonic() < deadline, "the licence did not reach the store"
                    time.sleep(0.05)
                assert (await client.post("/v1/events", json=badge, headers=STRUCTURED)).status_code == 202
                await receiver.wait_for(1, timeout=30)
    [event] = delivered(receiver.received)
    data = event["data"]
    assert data["complete"] is True, data["notFound"]
    assert data["toAsk"] == []
    reused = next(f for f in data["found"] if f["dataset"] == "result.document")
    assert reused["key"] == {"holder": TAX, "procedure": LICENCE}
    assert reused["data"]["resultCode"] == "14-00001/GPKDVT"
    assert reused["provenance"]["provider"] == "kho-ketqua"
    assert {f["dataset"] for f in data["found"]} == {
        "business.registration",
        "transport.licence",
        "result.document",
        "vehicle.registration",
    }


async def test_a_result_not_in_the_store_is_reported_without_the_holders_identifier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
    firm = REGISTRY.enterprise(TAX)
    assert firm is not None
    store_app, _ = create_app(store=ResultStore(tmp_path / "store.db"))
    with registries() as servers, serving(store_app) as store, Receiver("/evidence") as receiver:
        anchors = SigningPki().write_anchors(tmp_path)
        config = store_config(tmp_path, servers, store.url, anchors, receiver.url)
        badge = badge_event("000.00.00.H49-240502-0043", firm.name)
        with BusProcess(config) as bus:
            async with bus.async_client(ONESTOP) as client:
                queried = await client.post(
                    "/v1/evidence:query",
                    json=query_body(
                        "result.document", {"holder": MANAGER, "procedure": LICENCE}, procedure=BADGE
                    ),
                    headers={"X-Official-Id": "canbo.motcua.01"},
                )
                assert (await client.post("/v1/events", json=badge, headers=STRUCTURED)).status_code == 202
                await receiver.wait_for(1, timeout=30)
    assert queried.status_code == 404, queried.text
    assert queried.json()["code"] == "subject_not_found"
    assert MANAGER not in queried.text
    [event] = delivered(receiver.received)
    [missing] = [m for m in event["data"]["notFound"] if m["dataset"] == "result.document"]
    assert missing["reason"] == "subject_not_found" and "tax code" in missing["detail"]
    assert TAX not in missing["detail"] and LICENCE not in missing["detail"]
