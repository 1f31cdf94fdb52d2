"""W3C traceparent: parsing, stamping events, the fields of a log line."""

from __future__ import annotations

from router import tracing
from router.directory import Directory, System
from router.envelope import CloudEvent, attributes_of, from_structured, to_message
from router.policy import Policy, Rule
from router.ports import Message, StoredMessage
from router.publishing import EventChecks
from router.routing import InboundChecks
from schemas.registry import SchemaRegistry
from tests.support.bus import ONESTOP
from tests.support.events import status_changed
from tests.support.messages import stored

GIVEN = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def event(**extensions: str | int | bool) -> CloudEvent:
    return CloudEvent(
        id="e1", source="000.00.00.H49/motcua", type="dossier.status.changed", extensions=extensions
    )


def test_a_valid_traceparent_is_parsed() -> None:
    found = tracing.parse(GIVEN)
    assert found is not None
    assert (found.trace_id, found.parent_id, found.flags) == (TRACE, "00f067aa0ba902b7", "01")
    assert str(found) == GIVEN


def test_invalid_traceparents_are_refused() -> None:
    for value in (
        None,
        "",
        "garbage",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper case
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # zero parent id
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # forbidden version
        GIVEN + "-extra",  # version 00 has exactly four fields
    ):
        assert tracing.parse(value) is None, value


def test_a_later_version_may_carry_more_fields() -> None:
    assert tracing.trace_id("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-abc") == TRACE


def test_new_traces_are_valid_sampled_and_distinct() -> None:
    first, second = tracing.new(), tracing.new()
    assert tracing.parse(str(first)) == first
    assert first.flags == "01"
    assert first.trace_id != second.trace_id
    value = tracing.new_traceparent()
    assert str(tracing.parse(value)) == value and value.endswith("-01")
    assert tracing.new_traceparent()[3:35] != value[3:35]


def test_an_event_keeps_its_own_traceparent() -> None:
    mine = event(traceparent=GIVEN)
    tracing.stamp([mine], "00-11111111111111111111111111111111-2222222222222222-01")
    assert mine.extensions["traceparent"] == GIVEN


def test_events_without_one_take_the_request_header() -> None:
    events = [event(), event()]
    tracing.stamp(events, GIVEN)
    assert [e.extensions["traceparent"] for e in events] == [GIVEN, GIVEN]


def test_without_any_the_bus_starts_one_trace_per_request() -> None:
    events = [event(), event(traceparent="not a traceparent")]
    tracing.stamp(events, "also not one")
    values = [str(e.extensions["traceparent"]) for e in events]
    assert all(tracing.parse(v) is not None for v in values)
    assert values[0] == values[1]


def test_log_fields_of_a_stored_event() -> None:
    message = stored("e7", "H49-1", extensions={"traceparent": GIVEN})
    assert tracing.log_fields(message) == {
        "event_id": "e7",
        "subject": "H49-1",
        "event_type": "dossier.status.changed",
        "trace_id": TRACE,
    }
    assert tracing.of_headers(message.headers) == GIVEN
    assert tracing.of_headers(stored("e8").headers) is None


def test_the_router_starts_a_trace_for_a_kafka_producer_that_gave_none() -> None:
    system = System(id=ONESTOP, member=ONESTOP.split("/")[0], name=ONESTOP.split("/")[1])
    policy = Policy([Rule(systems=(ONESTOP,), publish=("dossier.*",))])
    checks = InboundChecks(Directory([system]), EventChecks(SchemaRegistry.load(), policy))

    def routed(event: dict[str, object]) -> Message:
        message = to_message(from_structured(event))
        inbound = StoredMessage("inbound", 0, 1, message.key, message.value, message.headers, 0)
        verdict = checks.check(inbound, attributes_of(inbound.headers))
        assert isinstance(verdict, Message)
        return verdict

    started = [value for name, value in routed(status_changed(1, 0)).headers if name == "ce_traceparent"]
    assert len(started) == 1 and tracing.parse(started[0].decode()) is not None
    kept = [
        v for n, v in routed({**status_changed(1, 1), "traceparent": GIVEN}).headers if n == "ce_traceparent"
    ]
    assert kept == [GIVEN.encode()]
    replaced = routed({**status_changed(1, 2), "traceparent": "bad"}).headers
    assert [tracing.parse(v.decode()) is not None for n, v in replaced if n == "ce_traceparent"] == [True]
