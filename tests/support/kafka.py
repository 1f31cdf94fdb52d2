"""The Kafka broker of the tests: named by LIENTHONG_KAFKA_BOOTSTRAP (``deploy/kafka/kafka start``
runs one on 127.0.0.1:19092). Without it Kafka tests skip with the reason; with
LIENTHONG_REQUIRE_KAFKA=1 (CI) a Kafka test that would skip fails instead (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.structs import ConsumerRecord

BOOTSTRAP_ENV = "LIENTHONG_KAFKA_BOOTSTRAP"
REQUIRE_ENV = "LIENTHONG_REQUIRE_KAFKA"


def kafka_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def kafka_bootstrap() -> tuple[str, ...]:
    """The broker's addresses, or a skip (a failure when Kafka is required) when none is set."""
    value = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if not value:
        reason = f"{BOOTSTRAP_ENV} is not set: start a broker with deploy/kafka/kafka start and set it to 127.0.0.1:19092"
        if kafka_required():
            pytest.fail(f"{REQUIRE_ENV}=1 but {reason}")
        pytest.skip(reason)
    return tuple(part.strip() for part in value.split(",") if part.strip())


def unique(prefix: str) -> str:
    """A topic or group name no other test (or earlier run on the same broker) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def on_kafka(namespace: str, partitions: int = 4) -> dict[str, Any]:
    """Transport settings for a bus on the test broker; processes with the same namespace share the work."""
    return {
        "kind": "kafka",
        "bootstrap_servers": list(kafka_bootstrap()),
        "namespace": namespace,
        "partitions": partitions,
        "path": "dead-letters.db",
    }


async def group_assignments(group: str) -> dict[str, frozenset[int]]:
    """Per member of a consumer group (by client id), the partitions the broker assigned it:
    what the group coordinator itself says, not what the members report."""
    admin = AIOKafkaAdminClient(bootstrap_servers=list(kafka_bootstrap()))
    await admin.start()
    try:
        responses = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    out: dict[str, frozenset[int]] = {}
    for response in responses:
        for _error, _group, _state, _ptype, _protocol, members, *_ in response.groups:
            for _member_id, client_id, _host, _metadata, assignment in members:
                decoded = ConsumerProtocolMemberAssignment.decode(assignment) if assignment else None
                partitions = {p for _topic, ps in (decoded.assignment if decoded else []) for p in ps}
                out[client_id] = frozenset(out.get(client_id, frozenset()) | partitions)
    return out


async def read_topic(topic: str, count: int, timeout: float = 30.0) -> list[ConsumerRecord[bytes, bytes]]:
    """The first ``count`` records of a topic (all partitions), read outside any group."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=list(kafka_bootstrap()), group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < count:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return records


SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "kafka" / "kafka"


def local_broker() -> None:
    """Skips (fails under LIENTHONG_REQUIRE_KAFKA=1) unless the test broker is the one
    ``deploy/kafka/kafka`` runs here, which a test may stop and start again."""
    bootstrap = kafka_bootstrap()
    port = os.environ.get("KAFKA_PORT", "19092")
    managed = subprocess.run([str(SCRIPT), "status"], capture_output=True, check=False).returncode == 0
    if bootstrap != (f"127.0.0.1:{port}",) or not managed:
        reason = (
            f"the broker {','.join(bootstrap)} is not the one deploy/kafka/kafka runs on 127.0.0.1:{port}"
        )
        if kafka_required():
            pytest.fail(reason)
        pytest.skip(reason)


def stop_broker() -> None:
    subprocess.run([str(SCRIPT), "stop"], capture_output=True, check=True)


def start_broker() -> None:
    subprocess.run([str(SCRIPT), "start"], capture_output=True, check=True)
