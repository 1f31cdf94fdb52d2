"""Topics on Kafka: creating them with the configured layout, and reading their partitions.

Topic layout of the bus (the same names as on the embedded log, so the router is unchanged):

- ``inbound``: every accepted CloudEvent, keyed by subject (the ordering key); the router's
  consumer group ``router`` validates it and fans it out;
- ``deliver.<subscription>``: one delivery queue per subscription, consumed by the group of the
  same name, which calls the subscription's sink;
- ``deadletter.inbound``: inbound messages that fail the router's checks (agencies may produce
  into ``inbound`` directly), with the reason in ``lienthong_error_*`` headers
  (:data:`router.routing.INBOUND_DEAD_LETTERS`); see docs/kafka.md.

Dead letters of deliveries stay in the embedded SQLite store (see :mod:`adapters.kafka`), not in a topic.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from router.ports import TransportError

# Creating a topic returns once the controller has it; brokers learn of it a moment later.
_VISIBLE_TIMEOUT_S = 30.0


async def ensure_topic(
    admin: AIOKafkaAdminClient, topic: str, partitions: int, replication_factor: int, max_message_bytes: int
) -> None:
    """Creates the topic unless it exists (an existing topic keeps its partitions), then waits
    until every partition has a leader, so that producers and consumers can use it at once."""
    new = NewTopic(
        topic, partitions, replication_factor, topic_configs={"max.message.bytes": str(max_message_bytes)}
    )
    try:
        response = await admin.create_topics([new])
    except KafkaError as exc:
        raise TransportError(f"cannot create the topic {topic!r}: {exc}") from exc
    for entry in response.topic_errors:
        code = entry[1]
        if code == 0:
            continue
        error = for_code(code)
        if error is TopicAlreadyExistsError:
            continue
        message = entry[2] if len(entry) > 2 and entry[2] else error.__name__
        raise TransportError(f"cannot create the topic {topic!r}: {message}")
    await _wait_for_leaders(admin, topic)


async def partitions_of(admin: AIOKafkaAdminClient, topic: str) -> list[int]:
    """The topic's partition numbers; empty when the topic does not exist."""
    description = await _describe(admin, topic)
    if description is None:
        return []
    return sorted(p["partition"] for p in description["partitions"])


async def _describe(admin: AIOKafkaAdminClient, topic: str) -> dict[str, Any] | None:
    try:
        topics = await admin.describe_topics([topic])
    except KafkaError as exc:
        raise TransportError(f"cannot describe the topic {topic!r}: {exc}") from exc
    for description in topics:
        if description["topic"] == topic and description["error_code"] == 0:
            return dict(description)
    return None


async def _wait_for_leaders(admin: AIOKafkaAdminClient, topic: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _VISIBLE_TIMEOUT_S
    while True:
        description = await _describe(admin, topic)
        if description is not None and all(p["leader"] >= 0 for p in description["partitions"]):
            return
        if loop.time() > deadline:
            raise TransportError(f"the topic {topic!r} has no leader for every partition yet")
        await asyncio.sleep(0.1)
