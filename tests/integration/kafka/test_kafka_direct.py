"""Agencies producing CloudEvents straight into the inbound topic with any Kafka client (here the
official CloudEvents SDK's Kafka binding and aiokafka): the bus checks them as the HTTP API would,
routes the valid ones and dead-letters the others with the reason, without stopping the partition."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from cloudevents.core.bindings.kafka import to_binary_event
from cloudevents.core.v1.event import CloudEvent

from router.routing import (
    ERROR_CODE,
    ERROR_DETAIL,
    ERROR_POINTER,
    INBOUND_DEAD_LETTERS,
    ORIGINAL_OFFSET,
    ORIGINAL_PARTITION,
    ORIGINAL_TOPIC,
)
from tests.support.bus import BusConfig, BusProcess
from tests.support.events import delivered, status_changed
from tests.support.kafka import kafka_bootstrap, on_kafka, read_topic, unique
from tests.support.receiver import Receiver

pytestmark = pytest.mark.kafka


def sdk_event(structured: dict[str, Any], **changes: Any) -> CloudEvent:
    """The test event as the CloudEvents SDK builds it (its own ``time``, a datetime)."""
    attributes = {k: v for k, v in structured.items() if k not in ("data", "specversion", "time")}
    attributes.update(changes)
    return CloudEvent(attributes=attributes, data=structured["data"])


async def produce(topic: str, events: list[CloudEvent | tuple[str, bytes, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=list(kafka_bootstrap()), acks="all")
    await producer.start()
    try:
        for event in events:
            if isinstance(event, CloudEvent):
                message = to_binary_event(event, key_mapper=lambda e: e.get_subject())
                key = message.key.encode() if isinstance(message.key, str) else message.key
                await producer.send_and_wait(
                    topic, message.value, key=key, headers=list(message.headers.items())
                )
            else:
                key_text, value, headers = event
                await producer.send_and_wait(topic, value, key=key_text.encode(), headers=headers)
    finally:
        await producer.stop()


async def test_sdk_events_are_routed_and_invalid_ones_dead_lettered_with_the_reason(
    tmp_path: Path, portal: Receiver
) -> None:
    namespace = unique("direct") + "."
    config = BusConfig(tmp_path, transport=on_kafka(namespace)).subscribe("portal", portal.url)
    first, bad_data = status_changed(1, 0), status_changed(1, 1)
    bad_data["data"]["status"] = "not a status"
    unknown_type, unknown_source, last = status_changed(1, 2), status_changed(1, 3), status_changed(1, 4)
    with BusProcess(config):
        await produce(
            f"{namespace}inbound",
            [
                sdk_event(first),
                sdk_event(bad_data),
                sdk_event(unknown_type, type="dossier.nonexistent"),
                sdk_event(unknown_source, source="000.00.00.H99/khongco"),
                # not even a CloudEvent: a value that is not JSON, with no attributes
                (first["subject"], b"\xff not json", [("ce_specversion", b"1.0")]),
                sdk_event(last),  # same subject, same partition, after every bad one
            ],
        )
        await portal.wait_for(2, timeout=60)
        rejected = await read_topic(f"{namespace}{INBOUND_DEAD_LETTERS}", 4)

    got = delivered(portal.received)
    assert [e["id"] for e in got] == [first["id"], last["id"]]
    assert got[0]["data"] == first["data"]
    assert got[0]["dataschema"].startswith("urn:lienthong:schema:dossier.status.changed:")  # as over HTTP
    reasons = {}
    partitions = set()
    for record in rejected:
        headers = {name: value.decode() for name, value in record.headers}
        assert headers[ORIGINAL_TOPIC] == "inbound"
        partitions.add(headers[ORIGINAL_PARTITION])
        assert headers[ERROR_DETAIL]
        reasons[headers.get("ce_id", "no id")] = (headers[ERROR_CODE], headers[ERROR_POINTER])
    assert reasons == {
        bad_data["id"]: ("schema_violation", "/data/status"),
        unknown_type["id"]: ("unknown_type", "/type"),
        unknown_source["id"]: ("forbidden", "/source"),
        "no id": ("malformed_event", "/data"),
    }
    assert len(partitions) == 1  # one subject: one partition
    # the valid events kept their offsets around the bad ones: the partition went on
    offsets = sorted(int(dict(r.headers)[ORIGINAL_OFFSET]) for r in rejected)
    assert offsets == [1, 2, 3, 4]
