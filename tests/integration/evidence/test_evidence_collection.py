"""Automatic collection, end to end: the one-stop system submits a dossier to the bus under
uvicorn; the evidence broker pulls what the procedure needs from the real registry simulators and
publishes ``dossier.evidence.collected``, which a real webhook receiver of the one-stop system
gets through its subscription."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulators import vehicle as vehicle_simulator
from simulators.server import SimulatorServer
from tests.support.bus import ONESTOP, OPERATOR, BusConfig, BusProcess
from tests.support.events import delivered
from tests.support.evidence import (
    AUDIT_KEY,
    AUDIT_KEY_ENV,
    REGISTRY,
    evidence_config,
    registries,
    submitted_event,
    transport_firm,
)
from tests.support.prometheus import sample, sample_reaches
from tests.support.receiver import Receiver
from tests.support.sentinels import delivered_until
from tests.support.simulators import requests_seen, serving

TAX, MANAGER, PLATES = transport_firm()
LICENCE = "1.002861"
STRUCTURED = {"Content-Type": "application/cloudevents+json"}
EVIDENCE_REQUESTS = "lienthong_evidence_requests_total"
DELIVERY_ATTEMPTS = "lienthong_delivery_attempts_total"
PATIENT_RETRY = {"max_attempts": 50, "max_elapsed": "30s", "initial_backoff": "100ms", "max_backoff": "300ms"}


def with_receiver(config: BusConfig, receiver: Receiver) -> BusConfig:
    """The one-stop system's subscription to what the broker collected for it."""
    config.subscribe(
        "onestop-evidence",
        receiver.url,
        system=ONESTOP,
        types=("dossier.evidence.collected",),
        filters=({"exact": {"recipient": ONESTOP}},),
    )
    return config


def licence_dossier(code: str, plates: list[str], **changes: Any) -> dict[str, Any]:
    firm = REGISTRY.enterprise(TAX)
    assert firm is not None
    data: dict[str, Any] = {
        "procedureName": "Cấp Giấy phép kinh doanh vận tải bằng xe ô tô",
        "applicant": {"type": "business", "name": firm.name, "taxCode": TAX},
        "representative": {"personalId": MANAGER, "role": "transport_manager"},
        "vehicles": [{"plate": p} for p in plates],
    }
    data.update(changes)
    return submitted_event(code, LICENCE, data)


@pytest.fixture
def audit_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUDIT_KEY_ENV, AUDIT_KEY)


@pytest.fixture
def servers() -> Iterator[dict[str, SimulatorServer]]:
    with registries() as servers:
        yield servers


def urls(servers: dict[str, SimulatorServer]) -> dict[str, str]:
    return {name: server.url for name, server in servers.items()}


async def collected(receiver: Receiver, count: int = 1) -> list[dict[str, Any]]:
    await receiver.wait_for(count, timeout=30)
    return delivered(receiver.received)


async def collected_through(receiver: Receiver, code: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The collections ``receiver`` got, in arrival order, once the one of dossier ``code`` is
    among them (a sentinel: see tests/support/sentinels.py)."""
    return await delivered_until(receiver, "subject", code, timeout)


def vehicle_failures(metrics: dict[str, float]) -> float:
    return metrics["provider_unavailable"] + metrics["provider_circuit_open"]


async def vehicle_outcomes(client: httpx.AsyncClient) -> dict[str, float]:
    """Vehicle registration queries answered so far, by outcome (each plate of each attempt)."""
    return {
        outcome: await sample(
            client, EVIDENCE_REQUESTS, dataset="vehicle.registration", provider="vehicle", outcome=outcome
        )
        for outcome in ("released", "provider_unavailable", "provider_circuit_open")
    }


@pytest.mark.usefixtures("audit_key")
async def test_a_transport_licence_dossier_gets_everything_the_state_holds(
    tmp_path: Path, servers: dict[str, SimulatorServer]
) -> None:
    code = "000.00.00.H49-240502-0001"
    sentinel = "000.00.00.H49-240502-0099"
    with Receiver("/evidence") as receiver:
        config = with_receiver(evidence_config(tmp_path, urls(servers), broker=True), receiver)
        # One partition: the broker collects dossiers in submission order and the collections
        # reach the receiver in publication order, so the sentinel's comes after any second one.
        config.partitions = 1
        with BusProcess(config) as bus:
            async with bus.async_client(ONESTOP) as client:
                reply = await client.post(
                    "/v1/events", json=licence_dossier(code, PLATES), headers=STRUCTURED
                )
                assert reply.status_code == 202, reply.text
                [event] = await collected(receiver)
                # the same submission again (a re-sent event with a new id), then another dossier
                again = licence_dossier(code, PLATES)
                again["id"] = "resent"
                assert (await client.post("/v1/events", json=again, headers=STRUCTURED)).status_code == 202
                reply = await client.post(
                    "/v1/events", json=licence_dossier(sentinel, PLATES), headers=STRUCTURED
                )
                assert reply.status_code == 202, reply.text
                events = await collected_through(receiver, sentinel)
                metrics = (await client.get("/metrics")).text
            async with bus.async_client(OPERATOR) as operator:
                dead = (await operator.get("/v1/subscriptions/evidence-broker/dead-letters")).json()
    # the re-sent submission was collected again (not dead-lettered) before the sentinel, and its
    # collection was not published a second time
    assert dead == []
    assert [e["subject"] for e in events] == [code, sentinel]
    assert event["type"] == "dossier.evidence.collected" and event["subject"] == code
    assert event["recipient"] == ONESTOP
    data = event["data"]
    assert data["complete"] is True, data["notFound"]
    assert data["notFound"] == [] and data["toAsk"] == []
    found = {(f["dataset"], next(iter(f["key"].values()))): f for f in data["found"]}
    assert set(found) == {
        ("business.registration", TAX),
        ("citizen.identity", MANAGER),
        *(("vehicle.registration", plate) for plate in PLATES),
    }
    # public data only: the representative's name, not their personal ID (that is citizen.identity)
    assert found["business.registration", TAX]["data"]["legalRepresentative"] == {
        "fullName": found["citizen.identity", MANAGER]["data"]["fullName"]
    }
    assert set(found["citizen.identity", MANAGER]["data"]) == {"personalId", "fullName", "sex", "dateOfBirth"}
    for plate in PLATES:
        vehicle = found["vehicle.registration", plate]
        assert vehicle["data"]["owner"]["id"] == TAX
        assert vehicle["provenance"]["provider"] == "vehicle"
    assert f'lienthong_evidence_fields_total{{how="asked",procedure="{LICENCE}"}} 0.0' in metrics
    assert f'lienthong_evidence_fields_total{{how="auto",procedure="{LICENCE}"}}' in metrics


@pytest.mark.usefixtures("audit_key")
async def test_partial_success_lists_what_was_not_found_and_what_to_ask(
    tmp_path: Path, servers: dict[str, SimulatorServer]
) -> None:
    code = "000.00.00.H49-240502-0002"
    unknown_plate = "14B-999.99"
    dossier = licence_dossier(code, [PLATES[0], unknown_plate])
    del dossier["data"]["representative"]  # the manager was not named: the document is asked
    with Receiver("/evidence") as receiver:
        config = with_receiver(evidence_config(tmp_path, urls(servers), broker=True), receiver)
        with BusProcess(config) as bus:
            async with bus.async_client(ONESTOP) as client:
                assert (await client.post("/v1/events", json=dossier, headers=STRUCTURED)).status_code == 202
                [event] = await collected(receiver)
    data = event["data"]
    assert data["complete"] is False
    assert {(f["dataset"], next(iter(f["key"].values()))) for f in data["found"]} == {
        ("business.registration", TAX),
        ("vehicle.registration", PLATES[0]),
    }
    reasons = {(e["dataset"], e.get("key", {}).get("plate")): e["reason"] for e in data["notFound"]}
    assert reasons == {
        ("vehicle.registration", unknown_plate): "subject_not_found",
        ("citizen.identity", None): "missing_key",
    }
    assert {a["dataset"] for a in data["toAsk"]} == {"vehicle.registration", "citizen.identity"}
    assert all(a["document"] for a in data["toAsk"])


@pytest.mark.usefixtures("audit_key")
async def test_a_registry_down_is_retried_then_reported(
    tmp_path: Path, servers: dict[str, SimulatorServer]
) -> None:
    code = "000.00.00.H49-240502-0003"
    with Receiver("/evidence") as receiver:
        config = with_receiver(evidence_config(tmp_path, urls(servers), broker=True), receiver)
        servers["vehicle"].stop()  # really stopped: connections are refused
        with BusProcess(config) as bus:
            async with bus.async_client(ONESTOP) as client:
                reply = await client.post(
                    "/v1/events", json=licence_dossier(code, PLATES), headers=STRUCTURED
                )
                assert reply.status_code == 202
                [event] = await collected(receiver)
                vehicle = await vehicle_outcomes(client)
                retried = await sample(
                    client, DELIVERY_ATTEMPTS, subscription="evidence-broker", result="retryable_error"
                )
            async with bus.async_client(OPERATOR) as operator:
                dead = (await operator.get("/v1/subscriptions/evidence-broker/dead-letters")).json()
    # every plate was asked of the registry on more than one attempt before the report
    assert retried >= 1
    assert vehicle["released"] == 0 and vehicle_failures(vehicle) >= 2 * len(PLATES), vehicle
    data = event["data"]
    assert data["complete"] is False
    assert {e["reason"] for e in data["notFound"] if e["dataset"] == "vehicle.registration"} <= {
        "provider_unavailable",
        "provider_circuit_open",
    }
    assert {f["dataset"] for f in data["found"]} == {"business.registration", "citizen.identity"}
    assert [a["dataset"] for a in data["toAsk"]] == ["vehicle.registration"]
    assert dead == []  # published with the failure listed after the retries, not dead-lettered


@pytest.mark.usefixtures("audit_key")
async def test_a_registry_back_before_the_retries_run_out_completes_the_collection(
    tmp_path: Path, servers: dict[str, SimulatorServer]
) -> None:
    code = "000.00.00.H49-240502-0004"
    with Receiver("/evidence") as receiver:
        # a retry budget far longer than a registry restart takes; short pauses keep the test quick
        config = with_receiver(
            evidence_config(tmp_path, urls(servers), broker=True, broker_retry=PATIENT_RETRY), receiver
        )
        port = servers["vehicle"].port
        servers["vehicle"].stop()  # really stopped: connections are refused
        with BusProcess(config) as bus:
            async with bus.async_client(ONESTOP) as client:
                reply = await client.post(
                    "/v1/events", json=licence_dossier(code, PLATES), headers=STRUCTURED
                )
                assert reply.status_code == 202, reply.text
                # the first collection attempt failed (and will be retried): the registry is back
                await sample_reaches(
                    client, 1, DELIVERY_ATTEMPTS, subscription="evidence-broker", result="retryable_error"
                )
                failed = vehicle_failures(await vehicle_outcomes(client))
                with serving(vehicle_simulator.create_app()[0], port=port) as restarted:
                    [event] = await collected(receiver)
                    seen = requests_seen(restarted.url)
            async with bus.async_client(OPERATOR) as operator:
                dead = (await operator.get("/v1/subscriptions/evidence-broker/dead-letters")).json()
    assert failed >= len(PLATES)  # each plate failed once while the registry was down
    assert seen >= len(PLATES)  # and was then asked of the registry started again
    data = event["data"]
    assert data["complete"] is True, data["notFound"]
    assert data["notFound"] == [] and data["toAsk"] == []
    plates = {f["key"]["plate"] for f in data["found"] if f["dataset"] == "vehicle.registration"}
    assert plates == set(PLATES)
    assert dead == []
