"""The bus on a real Kafka broker: publish -> route -> deliver, and several processes sharing the work."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.bus import ONESTOP, BusConfig, BusProcess
from tests.support.events import delivered, sequence_of, status_changed
from tests.support.kafka import kafka_bootstrap, unique
from tests.support.receiver import Receiver

pytestmark = pytest.mark.kafka

BATCH = {"Content-Type": "application/cloudevents-batch+json"}


@pytest.fixture
def portal() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def on_kafka(namespace: str) -> dict[str, Any]:
    """Transport settings for a bus on the test broker; processes with the same namespace share the work."""
    return {
        "kind": "kafka",
        "bootstrap_servers": list(kafka_bootstrap()),
        "namespace": namespace,
        "partitions": 4,
        "path": "dead-letters.db",
    }


def first_sequences(events: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Sequences per subject, first occurrence of each id only (redelivery may repeat some)."""
    seen: set[str] = set()
    out: dict[str, list[int]] = defaultdict(list)
    for event in events:
        if event["id"] in seen:
            continue
        seen.add(str(event["id"]))
        subject, sequence = sequence_of(event)
        out[subject].append(sequence)
    return out


async def test_events_published_on_kafka_reach_the_subscriber_in_order(
    tmp_path: Path, portal: Receiver
) -> None:
    config = BusConfig(tmp_path, transport=on_kafka(unique("it") + ".")).subscribe("portal", portal.url)
    with BusProcess(config) as bus, bus.client(ONESTOP) as client:
        reply = client.post("/v1/events", json=[status_changed(n % 5, n) for n in range(200)], headers=BATCH)
        assert reply.status_code == 202, reply.text
        await portal.wait_for(200, timeout=60)
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
    by_subject = first_sequences(delivered(portal.received))
    assert sum(len(s) for s in by_subject.values()) == 200
    for sequences in by_subject.values():
        assert sequences == sorted(sequences)


async def test_two_processes_share_the_work_and_one_takes_over_when_the_other_dies(
    tmp_path: Path, portal: Receiver
) -> None:
    namespace = unique("scale") + "."
    configs = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        configs.append(
            BusConfig(tmp_path / name, transport=on_kafka(namespace)).subscribe("portal", portal.url)
        )
    with BusProcess(configs[0]) as first, BusProcess(configs[1]) as second:
        # Either process's HTTP API accepts events for the same bus.
        for bus, start in ((first, 0), (second, 100)):
            with bus.client(ONESTOP) as client:
                batch = [status_changed(n % 7, n) for n in range(start, start + 100)]
                assert client.post("/v1/events", json=batch, headers=BATCH).status_code == 202
        await portal.wait_for(200, timeout=60)

        first.kill()  # kill -9: its partitions move to the survivor after the session timeout
        with second.client(ONESTOP) as client:
            batch = [status_changed(n % 7, n) for n in range(200, 300)]
            assert client.post("/v1/events", json=batch, headers=BATCH).status_code == 202
        await portal.wait_for(300, timeout=90)
    ids = {event["id"] for event in delivered(portal.received)}
    assert len(ids) == 300  # nothing lost; duplicates, if any, carry the same id
    for sequences in first_sequences(delivered(portal.received)).values():
        assert sequences == sorted(sequences)
