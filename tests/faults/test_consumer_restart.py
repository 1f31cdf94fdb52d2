"""A member of a consumer group across a broker restart, on the Kafka transport.

The batch it rewinds while the broker is away is fetched again from its first message once the
broker is back, never the partition from its beginning (a restarting broker cannot tell the
committed offsets for a moment, so a member that rewound to what it answered would start over);
and while the broker cannot tell, the committed offsets are "unknown", never "none"."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiokafka.errors import KafkaError

from adapters.kafka import KafkaOptions, KafkaTransport
from adapters.kafka.offsets import OffsetsUnknown
from router.ports import Consumer, Message, StoredMessage
from tests.support.kafka import kafka_bootstrap, local_broker, start_broker, stop_broker, unique

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

PARTITIONS = 4
PATIENCE_S = 120.0  # a bound so that a broken transport fails instead of hanging


@pytest.fixture
async def transport() -> AsyncIterator[KafkaTransport]:
    local_broker()
    opened = KafkaTransport(
        KafkaOptions(kafka_bootstrap(), default_partitions=PARTITIONS, namespace=unique("faults") + ".")
    )
    await opened.start()
    yield opened
    await opened.close()


async def next_batch(consumer: Consumer) -> list[StoredMessage]:
    async with asyncio.timeout(PATIENCE_S):
        while not (batches := await consumer.fetch(50, 0.5)):
            pass
    return [message for messages in batches.values() for message in messages]


def firsts(messages: list[StoredMessage]) -> dict[int, int]:
    """The first offset of each partition in ``messages``."""
    out: dict[int, int] = {}
    for message in messages:
        out.setdefault(message.partition, message.offset)
    return out


async def test_a_batch_rewound_across_a_broker_restart_comes_again_alone(transport: KafkaTransport) -> None:
    topic, group = "restart", "g"
    await transport.create_topic(topic, PARTITIONS)
    await transport.append(topic, [Message(f"subject-{n % 16}", str(n).encode()) for n in range(2000)])
    consumer = transport.consumer(group, topic)
    await consumer.start()
    committed: dict[int, int] = {}
    while len(committed) < PARTITIONS or min(committed.values()) < 100:
        batch = await next_batch(consumer)
        for message in batch:
            committed[message.partition] = message.offset + 1
        await consumer.commit(committed)
    in_hand = await next_batch(consumer)  # its handling fails: rewound while the broker is away
    expected = {p: committed.get(p) for p in range(PARTITIONS)}

    answers: list[dict[int, int | None]] = []

    async def read_committed_offsets_until_known() -> None:
        """Asks for the committed offsets from the broker's stop until it answers them."""
        while not answers or answers[-1] != expected:
            try:
                async with asyncio.timeout(5):
                    answers.append(await transport.committed(group, topic, range(PARTITIONS)))
            except (OffsetsUnknown, KafkaError, TimeoutError):
                pass  # cannot tell now (OffsetsUnknown), or the broker is away: asked again
            await asyncio.sleep(0.02)

    await asyncio.to_thread(stop_broker)
    try:
        # while the broker is away: a member that needs the broker to rewind waits for it
        rewinding = asyncio.create_task(consumer.rewind(sorted({m.partition for m in in_hand})))
        reading = asyncio.create_task(read_committed_offsets_until_known())
        await asyncio.to_thread(start_broker)
        async with asyncio.timeout(PATIENCE_S):
            await rewinding
            await reading
    finally:
        await asyncio.to_thread(start_broker)  # the next tests need it, whatever happened

    assert all(answer == expected for answer in answers), answers
    again: list[StoredMessage] = []
    async with asyncio.timeout(PATIENCE_S):
        while not firsts(in_hand).keys() <= firsts(again).keys():
            again.extend(await next_batch(consumer))
    assert {p: o for p, o in firsts(again).items() if p in firsts(in_hand)} == firsts(in_hand)
