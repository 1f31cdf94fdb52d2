"""W3C trace context end to end: the publisher's ``traceparent`` (CloudEvents attribute, binary
``ce-traceparent`` header, or the HTTP ``traceparent`` header) reaches the webhook receiver with the
same trace id; without one the bus starts a trace. Providers get the lookup's ``traceparent``. The
log of ``lienthong serve`` is one JSON object per line, with the event's fields where there is one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from adapters.rest import RestEndpoint, RestProvider
from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.kinds import builder
from router import tracing
from router.providers import CallPolicy, DataRequest, RequestContext
from simulators import business as business_simulator
from simulators import population as population_simulator
from simulators.registry_data import build
from tests.support.bus import ONESTOP, BusConfig, BusProcess
from tests.support.events import status_changed
from tests.support.evidence import registry_connector
from tests.support.receiver import Fault, Receiver
from tests.support.simulators import HeaderLog, serving

GIVEN = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
STRUCTURED = {"Content-Type": "application/cloudevents+json"}
REJECTED_SUBJECT_NUMBER = 77


@pytest.fixture(scope="module")
def bus_config(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> BusConfig:
    return BusConfig(tmp_path_factory.mktemp("tracing")).subscribe("portal", receiver.url)


def publish(bus: BusProcess, event: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    with bus.client(ONESTOP) as client:
        reply = client.post(
            "/v1/events", content=orjson.dumps(event), headers={**STRUCTURED, **(headers or {})}
        )
    assert reply.status_code == 202, reply.text


async def test_the_events_traceparent_attribute_reaches_the_sink(bus: BusProcess, receiver: Receiver) -> None:
    receiver.reset()
    event = {**status_changed(1, 0), "traceparent": GIVEN}
    publish(bus, event, {"traceparent": "00-11111111111111111111111111111111-2222222222222222-01"})
    await receiver.wait_for(1)
    headers = receiver.received[0].headers
    assert headers["traceparent"] == GIVEN  # the event's own context wins over the request's
    assert headers["ce-traceparent"] == GIVEN


async def test_a_binary_mode_ce_traceparent_header_reaches_the_sink(
    bus: BusProcess, receiver: Receiver
) -> None:
    receiver.reset()
    event = status_changed(2, 0)
    data = event.pop("data")
    headers = {f"ce-{name}": str(value) for name, value in event.items() if name != "datacontenttype"}
    with bus.client(ONESTOP) as client:
        reply = client.post(
            "/v1/events",
            content=orjson.dumps(data),
            headers={**headers, "ce-traceparent": GIVEN, "Content-Type": "application/json"},
        )
    assert reply.status_code == 202, reply.text
    await receiver.wait_for(1)
    assert tracing.trace_id(receiver.received[0].headers["traceparent"]) == TRACE


async def test_the_http_traceparent_header_is_taken_for_events_without_one(
    bus: BusProcess, receiver: Receiver
) -> None:
    receiver.reset()
    publish(bus, status_changed(3, 0), {"traceparent": GIVEN})
    await receiver.wait_for(1)
    assert receiver.received[0].headers["traceparent"] == GIVEN


async def test_without_a_traceparent_the_bus_starts_a_trace_per_request(
    bus: BusProcess, receiver: Receiver
) -> None:
    receiver.reset()
    publish(bus, status_changed(4, 0))
    publish(bus, status_changed(5, 0), {"traceparent": "not-a-valid-one"})
    await receiver.wait_for(2)
    values = [r.headers["traceparent"] for r in receiver.received]
    traces = {tracing.trace_id(value) for value in values}
    assert None not in traces
    assert len(traces) == 2
    assert [r.headers["ce-traceparent"] for r in receiver.received] == values


async def test_the_log_is_json_lines_and_a_dead_letter_names_its_event_and_trace(
    bus: BusProcess, receiver: Receiver
) -> None:
    receiver.reset()
    event = {**status_changed(REJECTED_SUBJECT_NUMBER, 0), "traceparent": GIVEN}
    receiver.fail_when(lambda r: r.headers.get("ce-id") == event["id"], Fault(400, body=b"no such dossier"))
    publish(bus, event)
    publish(bus, status_changed(REJECTED_SUBJECT_NUMBER, 1))  # delivered after it: the letter is written
    await receiver.wait_for(1)
    lines = [json.loads(line) for line in bus.log.read_text().splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # uvicorn's lines in the same format
    letters = [line for line in lines if line.get("event_id") == event["id"]]
    assert len(letters) == 1, lines[-5:]
    assert letters[0]["level"] == "warning"
    assert letters[0]["subject"] == event["subject"]
    assert letters[0]["type"] == "dossier.status.changed"
    assert letters[0]["trace_id"] == TRACE
    assert letters[0]["subscription"] == "portal"


# --- providers ---------------------------------------------------------------------------------------


FAST = CallPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.02)


async def test_a_soap_provider_gets_the_lookups_traceparent(tmp_path: Path) -> None:
    registry = build()
    person = registry.enterprise(registry.licences[0].tax_code)
    assert person is not None
    simulator = HeaderLog(population_simulator.create_app()[0])
    with serving(simulator) as server:
        entry = registry_connector("population", server.url)
        settings = ConnectorSettings("population", "soap", entry["url"], FAST, entry["options"])
        population = builder("soap")(settings, ConnectorDeps(CollectorRegistry(), tmp_path))
        provider = population.provider()
        assert provider is not None
        key = {"personal_id": person.legal_representative}
        try:
            await provider.fetch(DataRequest("citizen.identity", key, RequestContext(traceparent=GIVEN)))
            await provider.fetch(DataRequest("citizen.identity", key, RequestContext()))
        finally:
            await population.aclose()
    posts = [r for r in simulator.requests if "soapaction" in r or "text/xml" in r.get("content-type", "")]
    assert [r.get("traceparent") for r in posts] == [GIVEN, None]


async def test_a_rest_provider_gets_the_callers_traceparent() -> None:
    registry = build()
    tax_code = registry.licences[0].tax_code
    simulator = HeaderLog(business_simulator.create_app()[0])
    with serving(simulator) as server:
        provider = RestProvider(RestEndpoint(name="business", base_url=server.url, policy=FAST))
        try:
            await provider.get(f"/api/v1/enterprises/{tax_code}", traceparent=GIVEN)
            await provider.get(f"/api/v1/enterprises/{tax_code}", traceparent="not valid")
        finally:
            await provider.aclose()
    assert [r.get("traceparent") for r in simulator.requests] == [GIVEN, None]
