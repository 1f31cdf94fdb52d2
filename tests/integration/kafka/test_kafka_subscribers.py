"""Kafka-native subscribers (sink: {kafka: {}}): the bus routes, filters and checks policy as for
any sink, and the agency reads its subscription's topic with a plain Kafka consumer in its own
group: exactly the events its filter and policy allow, in order per subject; a subscription whose
system policy does not let see these events gets nothing."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from adapters.kafka import KafkaOptions, KafkaTransport
from router.publishing import INBOUND_TOPIC
from tests.support.bus import PORTAL, WAREHOUSE, BusConfig, BusProcess
from tests.support.events import AGENCY
from tests.support.kafka import kafka_bootstrap, on_kafka, unique
from tests.support.streams import publish_stream, stream

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

EVENTS, SUBJECTS = 400, 20
# dossiers 0001 to 0009: 9 of the 20 subjects
WANTED_PREFIX = f"{AGENCY}-240502-000"


def kafka_subscription(name: str, system: str, **settings: Any) -> dict[str, Any]:
    return {"name": name, "system": system, "sink": {"kafka": {}}, **settings}


async def wait_until_routed(namespace: str) -> None:
    """Until the router group has committed the whole inbound topic (no timing: it gets there)."""
    transport = KafkaTransport(KafkaOptions(kafka_bootstrap(), namespace=namespace))
    await transport.start()
    try:
        while await transport.lag("router", INBOUND_TOPIC) > 0:
            await asyncio.sleep(0.2)
    finally:
        await transport.close()


async def read_as_the_agency(topic: str, group: str) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    """The whole topic as of now, read as the agency reads it: its own group, from the start.
    (key, headers, data) per record, in each partition's order."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=list(kafka_bootstrap()),
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[tuple[str, dict[str, str], dict[str, Any]]] = []
    try:
        async with asyncio.timeout(60):
            while not consumer.assignment():
                await consumer.getmany(timeout_ms=200)
            partitions = sorted(consumer.assignment())
            ends = await consumer.end_offsets(partitions)
            for tp in partitions:
                consumer.seek(tp, 0)  # the records a first poll may have returned are read again

            async def behind() -> bool:
                return any([await consumer.position(tp) < ends[tp] for tp in partitions])

            while await behind():
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    for record in batch:
                        assert record.key is not None and record.value is not None
                        headers = {name: value.decode() for name, value in record.headers}
                        records.append((record.key.decode(), headers, json.loads(record.value)))
            await consumer.commit()
    finally:
        await consumer.stop()
    return records


async def test_the_agency_reads_what_its_filter_and_policy_allow_in_order_per_subject(tmp_path: Path) -> None:
    namespace = unique("subscribers") + "."
    config = BusConfig(tmp_path, transport=on_kafka(namespace))
    config.subscriptions += [
        kafka_subscription(
            "agency-status",
            PORTAL,
            types=["dossier.status.changed"],
            filters=[{"prefix": {"subject": WANTED_PREFIX}}],
        ),
        # the warehouse may subscribe to dossier.submitted only: none of the events published
        kafka_subscription("warehouse-all", WAREHOUSE),
    ]
    events = [event for batch in stream(EVENTS, SUBJECTS, 50) for event in batch]
    with BusProcess(config) as bus:
        await publish_stream(bus.url, config, stream(EVENTS, SUBJECTS, 50))
        await wait_until_routed(namespace)
        got = await read_as_the_agency(
            namespace + "deliver.agency-status", namespace + "subscriber.agency-status"
        )
        nothing = await read_as_the_agency(
            namespace + "deliver.warehouse-all", namespace + "subscriber.warehouse-all"
        )

    wanted = [e for e in events if str(e["subject"]).startswith(WANTED_PREFIX)]
    assert 0 < len(wanted) < len(events)
    # exactly the events the filter allows, each once
    assert sorted(headers["ce_id"] for _, headers, _ in got) == sorted(str(e["id"]) for e in wanted)
    # CloudEvents in Kafka binary mode, keyed by subject, in order per subject
    sequences: dict[str, list[int]] = defaultdict(list)
    for key, headers, data in got:
        assert key == headers["ce_subject"] == data["dossierCode"]
        assert headers["ce_type"] == "dossier.status.changed"
        sequences[key].append(int(data["note"]))
    assert all(seen == sorted(seen) for seen in sequences.values())
    assert nothing == []
