"""Publish -> route -> deliver through the bus under uvicorn, to real webhook receivers."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.bus import ONESTOP, OPERATOR, OUTSIDER, PORTAL, WAREHOUSE, BusConfig, BusProcess
from tests.support.events import delivered, sequence_of, status_changed, submitted
from tests.support.receiver import Fault, Receiver
from tests.support.sentinels import delivered_through, lag_drains

STRUCTURED = {"Content-Type": "application/cloudevents+json"}
BATCH = {"Content-Type": "application/cloudevents-batch+json"}


@pytest.fixture
def warehouse() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def in_order_per_subject(events: list[dict[str, object]]) -> dict[str, list[int]]:
    """Sequences per subject, first occurrences only (redelivery may repeat a suffix)."""
    seen: set[str] = set()
    out: dict[str, list[int]] = defaultdict(list)
    for event in events:
        if event["id"] in seen:
            continue
        seen.add(str(event["id"]))
        subject, sequence = sequence_of(event)
        out[subject].append(sequence)
    return out


async def test_single_and_batch_events_reach_the_subscriber_in_order(
    tmp_path: Path, portal: Receiver
) -> None:
    config = BusConfig(tmp_path).subscribe("portal", portal.url)
    with BusProcess(config) as bus, bus.client(ONESTOP) as client:
        reply = client.post(
            "/v1/events",
            json=status_changed(1, 0),
            headers=STRUCTURED,
        )
        assert reply.status_code == 202, reply.text
        assert reply.json() == {
            "accepted": 1,
            "duplicates": 0,
            "events": [{"id": "000.00.00.H49-240502-0002#0", "duplicate": False}],
        }
        batch = [status_changed(n % 3, n) for n in range(1, 60)]
        reply = client.post("/v1/events", json=batch, headers=BATCH)
        assert reply.status_code == 202, reply.text
        assert reply.json()["accepted"] == 59
        await portal.wait_for(60)
    events = delivered(portal.received)
    assert len(events) == 60
    by_subject = in_order_per_subject(events)
    for sequences in by_subject.values():
        assert sequences == sorted(sequences)
    first = portal.received[0].headers
    assert first["ce-type"] == "dossier.status.changed"
    assert first["idempotency-key"] == first["ce-id"]
    assert first["ce-dataschema"] == "urn:lienthong:schema:dossier.status.changed:3"


async def test_binary_mode_publish_and_subject_derived_from_data(tmp_path: Path, portal: Receiver) -> None:
    config = BusConfig(tmp_path).subscribe("portal", portal.url)
    event = status_changed(7, 1)
    headers = {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": "binary-1",
        "ce-source": ONESTOP,
        "ce-type": "dossier.status.changed",
        # no ce-subject: the bus takes it from data/dossierCode, the type's ordering key
    }
    with BusProcess(config) as bus, bus.client(ONESTOP) as client:
        reply = client.post("/v1/events", json=event["data"], headers=headers)
        assert reply.status_code == 202, reply.text
        await portal.wait_for(1)
    assert portal.received[0].headers["ce-subject"] == "000.00.00.H49-240502-0008"


async def test_same_id_from_same_source_is_accepted_once(tmp_path: Path, portal: Receiver) -> None:
    # one partition: a sentinel published last is delivered last, whatever the subjects
    config = BusConfig(tmp_path, partitions=1).subscribe("portal", portal.url)
    with BusProcess(config) as bus, bus.client(ONESTOP) as client:
        first = client.post("/v1/events", json=status_changed(1, 1), headers=STRUCTURED)
        again = client.post("/v1/events", json=status_changed(1, 1), headers=STRUCTURED)
        assert first.json()["events"][0]["duplicate"] is False
        assert again.status_code == 202
        assert again.json() == {
            "accepted": 0,
            "duplicates": 1,
            "events": [{"id": "000.00.00.H49-240502-0002#1", "duplicate": True}],
        }
        # a batch repeating an id within itself is also taken once
        reply = client.post("/v1/events", json=[status_changed(2, 1), status_changed(2, 1)], headers=BATCH)
        assert [e["duplicate"] for e in reply.json()["events"]] == [False, True]
        # a missing id is generated, so two id-less events are two events
        anonymous = status_changed(3, 1)
        del anonymous["id"]
        ids = [
            client.post("/v1/events", json=anonymous, headers=STRUCTURED).json()["events"][0]["id"]
            for _ in range(2)
        ]
        assert ids[0] != ids[1]
        # a duplicate accepted above would be on the queue ahead of the sentinel, so delivered first
        sentinel = status_changed(9, 1)
        assert client.post("/v1/events", json=sentinel, headers=STRUCTURED).status_code == 202
        events = await delivered_through(portal, sentinel["id"])
    assert [e["id"] for e in events] == [
        "000.00.00.H49-240502-0002#1",
        "000.00.00.H49-240502-0003#1",
        *ids,
        sentinel["id"],
    ]


async def test_filters_and_policy_decide_who_receives(
    tmp_path: Path, portal: Receiver, warehouse: Receiver
) -> None:
    # one partition: the sentinels published last are delivered after every earlier event,
    # whatever its subject (the portal's sentinel cannot share a subject with the filtered one)
    config = BusConfig(tmp_path, partitions=1)
    config.subscribe(
        "portal",
        portal.url,
        types=["dossier.status.changed"],
        filters=[{"not": {"prefix": {"subject": "000.00.00.H49-240502-00"}}}],
    )
    # the warehouse may subscribe to dossier.submitted only: config refuses more, so it asks for that
    config.subscribe("warehouse", warehouse.url, system=WAREHOUSE, types=["dossier.submitted"])
    with BusProcess(config) as bus, bus.client(ONESTOP) as client:
        hidden = status_changed(5, 1)  # subject ...-0006 is excluded by the portal's filter
        shown = status_changed(1234, 1)  # ...-1235 is not
        assert client.post("/v1/events", json=[hidden, shown], headers=BATCH).status_code == 202
        # then one event each subscription does receive
        to_portal, to_warehouse = status_changed(2345, 1), submitted(3456, 1)
        assert client.post("/v1/events", json=[to_portal, to_warehouse], headers=BATCH).status_code == 202
        portal_got = await delivered_through(portal, to_portal["id"])
        warehouse_got = await delivered_through(warehouse, to_warehouse["id"])
    assert [e["subject"] for e in portal_got] == ["000.00.00.H49-240502-1235", "000.00.00.H49-240502-2346"]
    assert [e["id"] for e in warehouse_got] == [to_warehouse["id"]]


async def test_a_subscription_without_types_gets_only_what_policy_allows(
    tmp_path: Path, warehouse: Receiver
) -> None:
    # A subscription that names no types is found for every type at routing: the policy check
    # there is all that keeps from it what its system may not receive (dossier.submitted only).
    config = BusConfig(tmp_path).subscribe("warehouse", warehouse.url, system=WAREHOUSE, types=())
    allowed, refused = submitted(1, 1), status_changed(1, 2)
    sentinel = submitted(1, 3)  # the same subject, published last: delivered after the others
    with BusProcess(config) as bus, bus.client(ONESTOP) as client:
        assert client.post("/v1/events", json=[allowed, refused], headers=BATCH).status_code == 202
        assert client.post("/v1/events", json=sentinel, headers=STRUCTURED).status_code == 202
        events = await delivered_through(warehouse, sentinel["id"])
    assert [(e["type"], e["id"]) for e in events] == [
        ("dossier.submitted", allowed["id"]),
        ("dossier.submitted", sentinel["id"]),
    ]


async def test_publish_denied_by_policy_writes_nothing(tmp_path: Path, portal: Receiver) -> None:
    config = BusConfig(tmp_path).subscribe("portal", portal.url)
    with BusProcess(config) as bus:
        with bus.client(OUTSIDER) as outsider:
            # a system without a publish grant
            reply = outsider.post(
                "/v1/events", json=status_changed(1, 1, source=OUTSIDER), headers=STRUCTURED
            )
            assert reply.status_code == 403
            assert reply.json()["code"] == "forbidden"
        with bus.client(PORTAL) as portal_client:
            # a system publishing in another system's name
            reply = portal_client.post("/v1/events", json=status_changed(1, 2), headers=STRUCTURED)
            assert reply.status_code == 403
            assert reply.json()["errors"][0]["pointer"] == "/source"
        with bus.client(ONESTOP) as client:
            # one forbidden event in a batch rejects the whole batch
            mixed = [status_changed(1, 3), status_changed(1, 4, source=OUTSIDER)]
            reply = client.post("/v1/events", json=mixed, headers=BATCH)
            assert reply.status_code == 403
            assert reply.json()["errors"][0]["pointer"] == "/1/source"
            # a sentinel on the refused events' subject: queued behind anything they wrote
            sentinel = status_changed(1, 5)
            assert client.post("/v1/events", json=sentinel, headers=STRUCTURED).status_code == 202
        events = await delivered_through(portal, sentinel["id"])
        with bus.client(OPERATOR) as operator:
            lag = await lag_drains(operator, "portal")
    assert [e["id"] for e in events] == [sentinel["id"]]
    assert lag == 0


async def test_order_per_subject_kept_under_retries(tmp_path: Path, portal: Receiver) -> None:
    config = BusConfig(tmp_path).subscribe(
        "portal",
        portal.url,
        retry={"max_attempts": 50, "max_elapsed": "30s", "initial_backoff": "10ms", "max_backoff": "50ms"},
    )
    # every third request fails with a retryable status, some after a delay
    counter = {"n": 0}

    def flaky(_: object) -> bool:
        counter["n"] += 1
        return counter["n"] % 3 == 0

    portal.fail_when(flaky, Fault(503))
    events = [status_changed(n % 5, n) for n in range(200)]
    with BusProcess(config) as bus, bus.client(ONESTOP) as client:
        for start in range(0, 200, 50):
            assert (
                client.post("/v1/events", json=events[start : start + 50], headers=BATCH).status_code == 202
            )
        await portal.wait_for(200, timeout=60)
    by_subject = in_order_per_subject(delivered(portal.received))
    assert sum(len(s) for s in by_subject.values()) == 200
    for subject, sequences in by_subject.items():
        assert sequences == sorted(sequences), subject
    assert any(r.status == 503 for r in portal.requests)


async def test_dead_letters_listed_and_replayed(tmp_path: Path, portal: Receiver) -> None:
    config = BusConfig(tmp_path).subscribe(
        "portal",
        portal.url,
        retry={"max_attempts": 2, "max_elapsed": "2s", "initial_backoff": "10ms", "max_backoff": "20ms"},
        on_dead_letter="hold_subject",
    )
    # the receiver refuses dossier 1's first event outright (400: not retryable)
    portal.fail_when(lambda r: r.headers.get("ce-id", "").endswith("0002#1"), Fault(400), times=1)
    with BusProcess(config) as bus, bus.client(ONESTOP) as client, bus.client(OPERATOR) as operator:
        events = [status_changed(1, 1), status_changed(2, 1), status_changed(1, 2), status_changed(2, 2)]
        assert client.post("/v1/events", json=events, headers=BATCH).status_code == 202
        await portal.wait_for(2)
        letters: list[dict[str, object]] = []
        for _ in range(50):
            letters = operator.get("/v1/subscriptions/portal/dead-letters").json()
            if len(letters) == 2:
                break
            await asyncio.sleep(0.1)
        # dossier 1's failed event, then its later event held behind it; dossier 2 went through
        assert [(letter["event_id"], letter["reason"]) for letter in letters] == [
            ("000.00.00.H49-240502-0002#1", "rejected_by_sink"),
            ("000.00.00.H49-240502-0002#2", "held_subject"),
        ]
        assert letters[0]["event"]["data"]["dossierCode"] == "000.00.00.H49-240502-0002"  # type: ignore[index]
        # the subscriber sees its own dead letters; another system does not even see the subscription
        with bus.client(WAREHOUSE) as other:
            assert other.get("/v1/subscriptions/portal/dead-letters").status_code == 404
        reply = operator.post(
            "/v1/subscriptions/portal/dead-letters/replay", json={"subject": "000.00.00.H49-240502-0002"}
        )
        assert reply.json()["replayed"] == 2
        await portal.wait_for(4)
        assert operator.get("/v1/subscriptions/portal/dead-letters").json() == []
        [status] = operator.get("/v1/subscriptions").json()
        assert status["dead_letters"] == 0
    by_subject = in_order_per_subject(delivered(portal.received))
    assert by_subject == {"000.00.00.H49-240502-0002": [1, 2], "000.00.00.H49-240502-0003": [1, 2]}


async def test_a_purge_after_a_replay_keeps_the_held_subject_behind_the_replayed_copy(
    tmp_path: Path, portal: Receiver
) -> None:
    """Dossier 1's first event fails and holds its second; dossier 2's event, in the same
    partition, keeps the queue waiting while dossier 1's third event is published, the first
    replayed (its copy queued after the third) and the second purged: the third must not
    overtake the copy."""
    config = BusConfig(tmp_path, partitions=1).subscribe(
        "portal",
        portal.url,
        batch=1,
        retry={
            "max_attempts": 1000,
            "max_elapsed": "120s",
            "initial_backoff": "50ms",
            "max_backoff": "200ms",
        },
        on_dead_letter="hold_subject",
    )
    failing, waiting = "000.00.00.H49-240502-0002", "000.00.00.H49-240502-0003"
    queue_held = threading.Event()
    queue_held.set()
    portal.fail_when(lambda r: r.headers.get("ce-id", "") == f"{failing}#1", Fault(400), times=1)
    portal.fail_when(
        lambda r: r.headers.get("ce-id", "") == f"{waiting}#1" and queue_held.is_set(), Fault(503)
    )
    with BusProcess(config) as bus, bus.client(ONESTOP) as client, bus.client(OPERATOR) as operator:
        events = [status_changed(1, 1), status_changed(1, 2), status_changed(2, 1)]
        assert client.post("/v1/events", json=events, headers=BATCH).status_code == 202
        letters: list[dict[str, Any]] = []
        for _ in range(100):
            letters = operator.get("/v1/subscriptions/portal/dead-letters").json()
            if len(letters) == 2:
                break
            await asyncio.sleep(0.1)
        first, second = letters
        assert (first["event_id"], second["event_id"]) == (f"{failing}#1", f"{failing}#2")
        assert client.post("/v1/events", json=[status_changed(1, 3)], headers=BATCH).status_code == 202
        reply = operator.post("/v1/subscriptions/portal/dead-letters/replay", json={"ids": [first["id"]]})
        assert reply.json()["replayed"] == 1
        reply = operator.delete(f"/v1/subscriptions/portal/dead-letters?id={second['id']}")
        assert reply.json()["purged"] == 1
        queue_held.clear()
        received = await delivered_through(portal, f"{failing}#1")
        held = operator.get("/v1/subscriptions/portal/dead-letters").json()
    assert in_order_per_subject(received)[failing] == [1], "the third event overtook the replayed copy"
    assert [(letter["event_id"], letter["reason"]) for letter in held] == [(f"{failing}#3", "held_subject")]


async def test_batch_delivery_sends_cloudevents_batches(tmp_path: Path, portal: Receiver) -> None:
    config = BusConfig(tmp_path).subscribe("portal", portal.url, batch=25)
    with BusProcess(config) as bus, bus.client(ONESTOP) as client:
        assert (
            client.post(
                "/v1/events", json=[status_changed(1, n) for n in range(100)], headers=BATCH
            ).status_code
            == 202
        )
        for _ in range(100):
            if len(delivered(portal.received)) >= 100:
                break
            await asyncio.sleep(0.1)
    assert all(
        r.headers["content-type"].startswith("application/cloudevents-batch+json") for r in portal.received
    )
    assert len(portal.received) < 100
    assert [sequence_of(e)[1] for e in delivered(portal.received)] == list(range(100))


async def test_metrics_follow_what_happened(tmp_path: Path, portal: Receiver) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    config = BusConfig(tmp_path).subscribe(
        "portal",
        portal.url,
        retry={"max_attempts": 1, "max_elapsed": "1s", "initial_backoff": "10ms", "max_backoff": "10ms"},
    )
    portal.fail_when(lambda r: r.headers.get("ce-subject", "").endswith("0010"), Fault(400))
    with BusProcess(config) as bus, bus.client(ONESTOP) as client:
        events = [status_changed(n % 10, n) for n in range(30)]  # subject ...0010 (n % 10 == 9) is refused
        assert client.post("/v1/events", json=events, headers=BATCH).status_code == 202
        bad = status_changed(1, 99)
        bad["data"]["status"] = 0
        assert client.post("/v1/events", json=bad, headers=STRUCTURED).status_code == 422
        await portal.wait_for(27)
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for _ in range(100):
            text = client.get("/metrics").text
            samples = {
                (s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
            }
            finished = sum(
                samples.get(
                    ("lienthong_deliveries_total", (("outcome", outcome), ("subscription", "portal"))), 0
                )
                for outcome in ("delivered", "dead_lettered")
            )
            if finished == 30:  # the receiver may count a call before the bus has counted its answer
                break
            await asyncio.sleep(0.1)

    def value(name: str, **labels: str) -> float:
        return samples.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("lienthong_events_received_total", type="dossier.status.changed", source=ONESTOP) == 30
    assert (
        value(
            "lienthong_events_rejected_total",
            type="dossier.status.changed",
            source=ONESTOP,
            reason="schema_violation",
        )
        == 1
    )
    assert value("lienthong_events_routed_total", subscription="portal") == 30
    assert value("lienthong_deliveries_total", subscription="portal", outcome="delivered") == 27
    assert value("lienthong_deliveries_total", subscription="portal", outcome="dead_lettered") == 3
    assert value("lienthong_delivery_attempts_total", subscription="portal", result="permanent_error") == 3
    # delivered events only: a dead letter's time is its retry budget, not a delivery's latency
    assert value("lienthong_delivery_latency_seconds_count", subscription="portal") == 27
    assert value("lienthong_dead_letters", subscription="portal") == 3
    assert value("lienthong_sink_circuit_state", subscription="portal") == 0
    assert ("lienthong_subscription_lag", (("subscription", "portal"),)) in samples
    # no *_created series beside counters and histograms: they doubled the series to store
    assert not [name for name, _ in samples if name.endswith("_created")]
