"""Reuse of an earlier result, end to end: the transport business licence that an agency issued
(a signed ``dossier.result.issued``) goes into the citizen data store through the bus; when the
same enterprise later applies for vehicle badges, the evidence broker finds the licence there
(dataset ``result.document``) along with the registries' data, and nothing is asked again. A result
the store does not hold is named by its key's kind, never by the holder's identifier, in the
problem reply and in the published event."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from simulators.citizen_store import ResultStore, create_app
from tests.support.bus import ONESTOP, WAREHOUSE, BusProcess
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
        config = evidence_config(
            tmp_path,
            {name: server.url for name, server in servers.items()},
            broker=True,
            extra_datasets=["result.document"],
            extra_connectors=[
                {
                    "name": "kho-ketqua",
                    "kind": "citizen_store",
                    "url": store.url,
                    "timeout": "2s",
                    "options": {"trust_anchors": anchors.name},
                }
            ],
        )
        config.extra_policies.append({"systems": [WAREHOUSE], "subscribe": ["dossier.result.issued"]})
        config.subscriptions.append(
            {
                "name": "citizen-store",
                "system": WAREHOUSE,
                "types": ["dossier.result.issued"],
                "sink": {"connector": {"name": "kho-ketqua"}},
            }
        )
        config.subscribe(
            "onestop-evidence",
            receiver.url,
            system=ONESTOP,
            types=("dossier.evidence.collected",),
            filters=({"exact": {"recipient": ONESTOP}},),
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
        badge = submitted_event(
            "000.00.00.H49-240502-0042",
            BADGE,
            {
                "applicant": {"type": "business", "name": firm.name, "taxCode": TAX},
                "vehicles": [{"plate": p} for p in PLATES],
            },
        )
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
        config = evidence_config(
            tmp_path,
            {name: server.url for name, server in servers.items()},
            broker=True,
            extra_datasets=["result.document"],
            extra_connectors=[
                {
                    "name": "kho-ketqua",
                    "kind": "citizen_store",
                    "url": store.url,
                    "timeout": "2s",
                    "options": {"trust_anchors": SigningPki().write_anchors(tmp_path).name},
                }
            ],
        )
        config.subscribe(
            "onestop-evidence",
            receiver.url,
            system=ONESTOP,
            types=("dossier.evidence.collected",),
            filters=({"exact": {"recipient": ONESTOP}},),
        )
        badge = submitted_event(
            "000.00.00.H49-240502-0043",
            BADGE,
            {
                "applicant": {"type": "business", "name": firm.name, "taxCode": TAX},
                "vehicles": [{"plate": p} for p in PLATES],
            },
        )
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
