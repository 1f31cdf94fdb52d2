"""OpenTelemetry export: a bus with a ``tracing`` section sends its spans over OTLP/HTTP to a real
collector on loopback (decoded with OpenTelemetry's protobuf definitions), and passes its own
span on as the parent: publisher → ``publish <type>`` → ``send <subscription>`` → the webhook
receiver; evidence query → ``fetch <dataset>`` → the registry. A collector that is down loses
spans, never events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import orjson
import pytest

from simulators import business as business_simulator
from simulators import population as population_simulator
from simulators import vehicle as vehicle_simulator
from tests.support.bus import BROKER, ONESTOP, BusConfig, BusProcess
from tests.support.events import dossier_code, status_changed
from tests.support.evidence import (
    AUDIT_KEY,
    AUDIT_KEY_ENV,
    evidence_config,
    query_body,
    submitted_event,
    transport_firm,
)
from tests.support.otlp import OTLP_PATH, spans, wait_for_spans
from tests.support.receiver import Fault, Receiver
from tests.support.simulators import HeaderLog, serving

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PUBLISHER_SPAN = "00f067aa0ba902b7"
GIVEN = f"00-{TRACE}-{PUBLISHER_SPAN}-01"
STRUCTURED = {"Content-Type": "application/cloudevents+json"}
SERVICE = "lienthong-test-bus"


def trace(number: int) -> str:
    """A distinct trace id per test, so the tests of one module do not see each other's spans."""
    return f"{number:032x}"


@pytest.fixture(scope="module")
def collector() -> Iterator[Receiver]:
    with Receiver(OTLP_PATH) as running:
        yield running


@pytest.fixture(scope="module")
def sink() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture(scope="module")
def business() -> Iterator[HeaderLog]:
    yield HeaderLog(business_simulator.create_app()[0])


@pytest.fixture(scope="module")
def bus_config(
    tmp_path_factory: pytest.TempPathFactory,
    collector: Receiver,
    sink: Receiver,
    business: HeaderLog,
) -> Iterator[BusConfig]:
    with ExitStack() as stack:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
        # What would switch FastAPI's own request spans on (FastAPI >= 0.162 with the OTel SDK
        # installed). Their url.path would name people (/v1/subjects/{id}/access-log); the bus's
        # trace is its own spans, so it keeps FastAPI's off.
        patch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
        patch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector.url)
        patch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        urls = {
            "population": stack.enter_context(serving(population_simulator.create_app()[0])).url,
            "business": stack.enter_context(serving(business)).url,
            "vehicle": stack.enter_context(serving(vehicle_simulator.create_app()[0])).url,
        }
        config = evidence_config(tmp_path_factory.mktemp("otel"), urls, broker=True)
        config.subscribe("portal", sink.url)
        config.sections["tracing"] = {
            "otlp_endpoint": collector.url,
            "service_name": SERVICE,
            "export_interval": "100ms",
            "export_timeout": "2s",
        }
        yield config


def publish(bus: BusProcess, event: dict[str, Any], headers: dict[str, str] | None = None) -> int:
    with bus.client(ONESTOP) as client:
        reply = client.post(
            "/v1/events", content=orjson.dumps(event), headers={**STRUCTURED, **(headers or {})}
        )
    return reply.status_code


def in_trace(trace_id: str, name: str) -> Any:
    return lambda span: span.trace_id == trace_id and span.name == name


async def test_publish_and_delivery_are_spans_in_the_publishers_trace(
    bus: BusProcess, collector: Receiver, sink: Receiver
) -> None:
    sink.reset()
    event = {**status_changed(1, 0), "traceparent": GIVEN}
    assert publish(bus, event) == 202
    await sink.wait_for(1)
    [published] = await wait_for_spans(collector, in_trace(TRACE, "publish dossier.status.changed"))
    [sent] = await wait_for_spans(collector, in_trace(TRACE, "send portal"))

    assert published.parent_span_id == PUBLISHER_SPAN  # the publisher's span is the parent
    assert published.kind == "server"
    assert published.service_name == SERVICE
    assert published.attributes["messaging.message.id"] == event["id"]
    assert published.attributes["lienthong.source"] == ONESTOP
    assert published.status == "unset"

    assert sent.parent_span_id == published.span_id
    assert sent.kind == "producer"
    assert sent.attributes["messaging.destination.name"] == "portal"
    assert sent.attributes["messaging.message.id"] == event["id"]

    # the receiver sees the bus's send span as its parent, in both headers
    headers = sink.received[0].headers
    assert sent.is_parent_in(headers["traceparent"])
    assert headers["ce-traceparent"] == headers["traceparent"]


async def test_each_attempt_of_a_sink_call_is_a_span_and_the_failed_one_says_why(
    bus: BusProcess, collector: Receiver, sink: Receiver
) -> None:
    sink.reset()
    trace_id = trace(2)
    sink.fail_next(Fault(503))
    assert publish(bus, {**status_changed(2, 0), "traceparent": f"00-{trace_id}-{PUBLISHER_SPAN}-01"}) == 202
    await sink.wait_for(1)
    attempts = await wait_for_spans(collector, in_trace(trace_id, "send portal"), count=2)
    assert [span.status for span in attempts] == ["error", "unset"]
    assert attempts[0].attributes["error.type"] == "sink_unavailable"
    assert "503" in attempts[0].status_message
    assert attempts[1].is_parent_in(sink.received[0].headers["traceparent"])


async def test_a_refused_publish_is_a_failed_span_with_the_problems_code(
    bus: BusProcess, collector: Receiver
) -> None:
    trace_id = trace(3)
    event = {**status_changed(3, 0, status=42), "traceparent": f"00-{trace_id}-{PUBLISHER_SPAN}-01"}
    assert publish(bus, event) == 422
    [refused] = await wait_for_spans(collector, in_trace(trace_id, "publish dossier.status.changed"))
    assert refused.status == "error"
    assert refused.attributes["error.type"] == "schema_violation"


async def test_an_event_without_trace_context_starts_a_trace_at_the_bus(
    bus: BusProcess, collector: Receiver, sink: Receiver
) -> None:
    sink.reset()
    event = status_changed(4, 0)
    assert publish(bus, event) == 202
    await sink.wait_for(1)
    [published] = await wait_for_spans(
        collector,
        lambda s: (
            s.name == "publish dossier.status.changed" and s.attributes["messaging.message.id"] == event["id"]
        ),
    )
    assert published.parent_span_id == ""  # a root: no span of the publisher's exists anywhere
    [sent] = await wait_for_spans(collector, in_trace(published.trace_id, "send portal"))
    assert sent.parent_span_id == published.span_id
    assert sent.is_parent_in(sink.received[0].headers["traceparent"])


async def test_a_provider_call_is_a_span_and_the_registry_sees_it_as_the_parent(
    bus: BusProcess, collector: Receiver, business: HeaderLog
) -> None:
    trace_id = trace(5)
    tax_code, _, _ = transport_firm()
    with bus.client(ONESTOP) as client:
        reply = client.post(
            "/v1/evidence:query",
            json=query_body("business.registration", {"tax_code": tax_code}),
            headers={"traceparent": f"00-{trace_id}-{PUBLISHER_SPAN}-01"},
        )
    assert reply.status_code == 200, reply.text
    [fetched] = await wait_for_spans(collector, in_trace(trace_id, "fetch business.registration"))
    assert fetched.kind == "client"
    assert fetched.parent_span_id == PUBLISHER_SPAN
    assert fetched.attributes["lienthong.provider"] == "business"
    assert fetched.attributes["lienthong.procedure"] == "1.002861"
    assert any(fetched.is_parent_in(r.get("traceparent")) for r in business.requests)


async def test_automatic_collection_fetches_and_publishes_under_the_dossiers_trace(
    bus: BusProcess, collector: Receiver
) -> None:
    trace_id = trace(7)
    tax_code, manager, plates = transport_firm()
    data = {
        "applicant": {"type": "business", "name": "Công ty vận tải", "taxCode": tax_code},
        "representative": {"personalId": manager, "role": "transport_manager"},
        "vehicles": [{"plate": plate} for plate in plates],
    }
    event = submitted_event(dossier_code(700), "1.002861", data)
    assert publish(bus, {**event, "traceparent": f"00-{trace_id}-{PUBLISHER_SPAN}-01"}) == 202
    [published] = await wait_for_spans(collector, in_trace(trace_id, "publish dossier.submitted"))
    [sent] = await wait_for_spans(collector, in_trace(trace_id, "send evidence-broker"))
    assert sent.parent_span_id == published.span_id
    [collected] = await wait_for_spans(collector, in_trace(trace_id, "publish dossier.evidence.collected"))
    fetches = [s for s in spans(collector) if s.trace_id == trace_id and s.name.startswith("fetch ")]
    # business.registration was cached by an earlier test's query: a cache hit makes no call, no span
    assert {s.name for s in fetches} >= {"fetch citizen.identity", "fetch vehicle.registration"}
    assert {s.parent_span_id for s in fetches} == {sent.span_id}
    assert collected.parent_span_id == sent.span_id
    assert collected.attributes["lienthong.source"] == BROKER


async def test_spans_carry_no_subject_identifiers(bus: BusProcess, collector: Receiver) -> None:
    tax_code, personal_id, _ = transport_firm()
    with bus.client(ONESTOP) as client:
        # refused or not, a request whose path names the person makes no span of its own
        assert client.get(f"/v1/subjects/{personal_id}/access-log").status_code in (200, 403)
        reply = client.post(
            "/v1/evidence:query",
            json=query_body("citizen.identity", {"personal_id": personal_id}),
            headers={"X-Official-Id": "officer-17"},
        )
    assert reply.status_code == 200, reply.text
    await wait_for_spans(collector, lambda s: s.name == "fetch citizen.identity")
    exported = spans(collector)
    values = [str(v) for span in exported for v in (span.name, *span.attributes.values())]
    assert not [v for v in values if personal_id in v or tax_code in v]


async def test_a_failed_lookup_is_an_error_span_that_names_no_one(
    bus: BusProcess, collector: Receiver
) -> None:
    trace_id = trace(8)
    unknown = "044199999999"  # a well-formed personal ID the population registry does not hold
    with bus.client(ONESTOP) as client:
        reply = client.post(
            "/v1/evidence:query",
            json=query_body("citizen.identity", {"personal_id": unknown}),
            headers={"X-Official-Id": "officer-17", "traceparent": f"00-{trace_id}-{PUBLISHER_SPAN}-01"},
        )
    assert reply.status_code == 404, reply.text
    assert reply.json()["code"] == "subject_not_found"
    [failed] = await wait_for_spans(collector, in_trace(trace_id, "fetch citizen.identity"))
    assert failed.status == "error"
    assert failed.attributes["error.type"] == "subject_not_found"
    # the provider's own message quotes the ID; the span keeps only the problem's fixed title
    assert unknown not in failed.status_message
    assert failed.status_message


async def test_a_collector_that_is_down_loses_spans_not_events(
    bus: BusProcess, collector: Receiver, sink: Receiver
) -> None:
    collector.stop()
    try:
        sink.reset()
        for number in range(3):
            assert publish(bus, status_changed(10 + number, 0)) == 202
        await sink.wait_for(3)
    finally:
        collector.start()  # the same port again
    sink.reset()
    trace_id = trace(6)
    assert publish(bus, {**status_changed(13, 0), "traceparent": f"00-{trace_id}-{PUBLISHER_SPAN}-01"}) == 202
    await sink.wait_for(1)
    await wait_for_spans(collector, in_trace(trace_id, "send portal"))
