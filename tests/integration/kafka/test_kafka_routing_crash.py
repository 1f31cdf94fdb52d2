"""kill -9 of a bus process between the router's produce and its commit (transport.kafka.routing).

The process is armed with the fault point of lienthong.faults: it kills itself (SIGKILL) right
after its router made its first batch durable in the delivery topic and before the inbound
offsets were committed, so the crash falls in that window every run, with no timing. A second
process then takes the partitions over.

- transactional: the killed process's copies stay in the delivery topic's log, in a transaction
  the new owner aborts; a reader of committed messages (every consumer of the bus) sees each
  event once, and the receiver gets each once.
- at_least_once: the batch is routed again; the delivery topic holds it twice, and the receiver
  gets the copies as redeliveries with the same id and Idempotency-Key.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from adapters.kafka import KafkaOptions, KafkaTransport
from lienthong.faults import KILL_AFTER_ROUTED
from router.envelope import from_structured, to_message
from router.publishing import INBOUND_TOPIC
from tests.support.bus import BusConfig, BusProcess
from tests.support.events import delivered, status_changed
from tests.support.kafka import kafka_bootstrap, on_kafka, unique
from tests.support.receiver import Receiver
from tests.support.streams import wait_for_ids

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

EVENTS, SUBJECTS = 200, 20


async def produce_inbound(namespace: str, events: list[dict[str, object]]) -> None:
    """The events straight into the inbound topic, as an agency producing directly would."""
    transport = KafkaTransport(KafkaOptions(kafka_bootstrap(), namespace=namespace, default_partitions=4))
    await transport.start()
    try:
        await transport.append(INBOUND_TOPIC, [to_message(from_structured(event)) for event in events])
    finally:
        await transport.close()


async def wait_until_routed(namespace: str) -> None:
    """Until the router group has committed the whole inbound topic (no timing: it gets there)."""
    transport = KafkaTransport(KafkaOptions(kafka_bootstrap(), namespace=namespace, default_partitions=4))
    await transport.start()
    try:
        while await transport.lag("router", INBOUND_TOPIC) > 0:
            await asyncio.sleep(0.2)
    finally:
        await transport.close()


async def partitions_of(topic: str) -> list[int]:
    """The topic's partition ids, as the cluster tells them (a consumer's cache may not know the topic)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=list(kafka_bootstrap()))
    await admin.start()
    try:
        (description,) = await admin.describe_topics([topic])
        return sorted(partition["partition"] for partition in description["partitions"])
    finally:
        await admin.close()


async def ids_in_topic(topic: str, isolation_level: str) -> Counter[str]:
    """How many times each event id is in the topic, read to its end as of now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=list(kafka_bootstrap()),
        group_id=None,
        enable_auto_commit=False,
        isolation_level=isolation_level,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in await partitions_of(topic)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)  # the last stable offsets under read_committed
        ids: Counter[str] = Counter()

        async def behind() -> bool:
            for tp in partitions:
                if await consumer.position(tp) < ends[tp]:
                    return True
            return False

        while await behind():
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    ids[dict(record.headers)["ce_id"].decode()] += 1
        return ids
    finally:
        await consumer.stop()


@pytest.mark.parametrize(
    "routing",
    [
        "transactional",
        "at_least_once",
    ],
)
async def test_kill_9_between_produce_and_commit(tmp_path: Path, routing: str) -> None:
    namespace = unique(f"route-{routing.replace('_', '-')}") + "."
    events = [status_changed(n % SUBJECTS, n // SUBJECTS) for n in range(EVENTS)]
    ids = {str(event["id"]) for event in events}
    with Receiver() as portal:
        config = BusConfig(tmp_path, transport={**on_kafka(namespace), "routing": routing}).subscribe(
            "portal", portal.url
        )
        with BusProcess(config, env={KILL_AFTER_ROUTED: "1"}) as doomed:
            await produce_inbound(namespace, events)
            assert doomed.process is not None
            # it kills itself at the fault point: produced, not committed
            assert doomed.process.wait(120) == -9, doomed.log.read_text()[-4000:]
        with BusProcess(config):
            await wait_for_ids(portal, ids, timeout=120)
            await wait_until_routed(namespace)
            topic = namespace + "deliver.portal"
            committed = await ids_in_topic(topic, "read_committed")
            written = await ids_in_topic(topic, "read_uncommitted")
            # one event a request (batch 1): its id, and the request's Idempotency-Key
            arrivals = [
                (str(delivered([request])[0]["id"]), request.headers.get("idempotency-key"))
                for request in portal.received
            ]
    assert set(committed) == ids
    assert set(written) == ids
    # the killed process's copies are in the log: the crash fell between produce and commit
    assert sum(written.values()) > EVENTS
    received = Counter(event_id for event_id, _ in arrivals)
    assert set(received) == ids
    # a redelivery carries its event's id as its Idempotency-Key
    assert all(key == event_id for event_id, key in arrivals)
    if routing == "transactional":
        # a reader of committed messages, the bus's delivery included, sees each event once
        assert set(committed.values()) == {1}
        assert set(received.values()) == {1}
    else:
        # the batch was routed twice: documented redeliveries with the same id
        assert max(committed.values()) == 2
        assert sum(received.values()) > EVENTS
