"""The bus on a real Kafka broker: publish -> route -> deliver, and several processes sharing the work."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.bus import ONESTOP, BusConfig, BusProcess
from tests.support.events import delivered, status_changed
from tests.support.kafka import group_assignments, on_kafka, unique
from tests.support.receiver import Receiver
from tests.support.streams import first_sequences

pytestmark = pytest.mark.kafka

BATCH = {"Content-Type": "application/cloudevents-batch+json"}


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


async def owners_of(group: str, *buses: BusProcess) -> dict[BusProcess, frozenset[int]]:
    """The partitions of the group each bus process owns (its client ids end with its pid)."""
    assignments = await group_assignments(group)
    out = {}
    for bus in buses:
        assert bus.process is not None
        suffix = f"-{bus.process.pid}"
        out[bus] = frozenset(
            p for client, parts in assignments.items() if client.endswith(suffix) for p in parts
        )
    return out


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
        # Both processes own partitions of every group, as the group coordinator itself says.
        for group in ("router", "deliver.portal"):
            owners = await owners_of(namespace + group, first, second)
            assert all(owners.values()), f"{group}: {owners}"
            assert owners[first] | owners[second] == set(range(4))

        first.kill()  # kill -9: its partitions move to the survivor after the session timeout
        for group in ("router", "deliver.portal"):
            for _ in range(300):
                owners = await owners_of(namespace + group, first, second)
                if owners[second] == set(range(4)) and not owners[first]:
                    break
                await asyncio.sleep(0.1)
            assert owners == {first: frozenset(), second: frozenset(range(4))}, group
        with second.client(ONESTOP) as client:
            batch = [status_changed(n % 7, n) for n in range(200, 300)]
            assert client.post("/v1/events", json=batch, headers=BATCH).status_code == 202
        await portal.wait_for(300, timeout=90)
    ids = {event["id"] for event in delivered(portal.received)}
    assert len(ids) == 300  # nothing lost; duplicates, if any, carry the same id
    for sequences in first_sequences(delivered(portal.received)).values():
        assert sequences == sorted(sequences)
