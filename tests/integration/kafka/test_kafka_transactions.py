"""The transactional member of the router group on a real broker (adapters/kafka/transactions.py):
a partition is handed out only once its producer fenced the former owner, one producer per
partition at a time, and a member whose producer was fenced goes on from the offset committed by
the producer that fenced it, never from its own position."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from adapters.kafka import KafkaConsumer, KafkaOptions, KafkaTransport
from adapters.kafka.consumer import _member_id
from router.ports import Message, StoredMessage, TransportError
from router.publishing import INBOUND_TOPIC
from tests.support.kafka import kafka_bootstrap, unique

pytestmark = pytest.mark.kafka

GROUP = "router"


class GatedTransport(KafkaTransport):
    """Transactional producers start (InitProducerId) only once the gate is open; every start is
    recorded by transactional id."""

    def __init__(self, options: KafkaOptions) -> None:
        super().__init__(options)
        self.gate = asyncio.Event()
        self.gate.set()
        self.starts: list[str] = []

    def new_producer(self, transactional_id: str | None = None) -> AIOKafkaProducer:
        producer = super().new_producer(transactional_id)
        if transactional_id is None:
            return producer
        start = producer.start

        async def gated_start() -> None:
            self.starts.append(transactional_id)
            await self.gate.wait()
            await start()

        producer.start = gated_start
        return producer


@pytest.fixture
async def transport() -> AsyncIterator[GatedTransport]:
    options = KafkaOptions(
        kafka_bootstrap(), default_partitions=1, namespace=unique("txn") + ".", routing="transactional"
    )
    opened = GatedTransport(options)
    await opened.start()
    await opened.create_topic(INBOUND_TOPIC, 1)
    yield opened
    await opened.close()


def messages(count: int) -> list[Message]:
    return [Message("subject", str(n).encode(), (("ce_id", str(n).encode()),)) for n in range(count)]


async def fetched(consumer: KafkaConsumer, max_messages: int) -> Sequence[StoredMessage]:
    """The next batch of partition 0, however many polls it takes."""
    async with asyncio.timeout(60):
        while True:
            batches: Mapping[int, Sequence[StoredMessage]] = await consumer.fetch(max_messages, 0.5)
            if batches:
                return batches[0]


async def committed(transport: KafkaTransport, offset: int) -> None:
    """Until the group's committed offset of partition 0 is ``offset``: a transaction's offsets are
    visible once the coordinator wrote its commit marker, shortly after the commit returned."""
    async with asyncio.timeout(60):
        while (await transport.committed(GROUP, INBOUND_TOPIC, [0]))[0] != offset:
            await asyncio.sleep(0.1)


async def test_a_partition_is_handed_out_once_its_producer_has_fenced_the_former_owner(
    transport: GatedTransport,
) -> None:
    await transport.append(INBOUND_TOPIC, messages(10))
    transport.gate.clear()
    consumer = transport.transactional_consumer(GROUP, INBOUND_TOPIC)
    await consumer.start()
    # the member is assigned the partition and its producer is starting (held at the gate)
    async with asyncio.timeout(60):
        while not transport.starts:
            assert await consumer.fetch(10, 0.2) == {}
    # aiokafka has the partition's position by now; the member hands none of it out
    for _ in range(3):
        assert await consumer.fetch(10, 1.0) == {}
    transport.gate.set()
    batch = await fetched(consumer, 10)
    assert [m.offset for m in batch] == list(range(10))
    await consumer.append_and_commit(0, {}, 10)
    await committed(transport, 10)
    # one producer for the partition: a second one with its id would have fenced the first
    assert transport.starts == [transport.options.topic(f"{GROUP}.{INBOUND_TOPIC}.0")]


async def test_a_fenced_member_goes_on_from_the_offset_committed_by_whoever_fenced_it(
    transport: GatedTransport,
) -> None:
    await transport.append(INBOUND_TOPIC, messages(10))
    consumer = transport.transactional_consumer(GROUP, INBOUND_TOPIC)
    first = await fetched(consumer, 4)
    assert [m.offset for m in first] == [0, 1, 2, 3]
    await consumer.append_and_commit(0, {}, 4)

    # Another producer with the partition's transactional id (a former owner that has not learnt
    # the partition moved, restarting its producer) fences this member's and commits 4..6.
    other = transport.new_producer(transport.options.topic(f"{GROUP}.{INBOUND_TOPIC}.0"))
    await other.start()
    try:
        await other.begin_transaction()
        await other.send_offsets_to_transaction(
            {TopicPartition(transport.options.topic(INBOUND_TOPIC), 0): OffsetAndMetadata(7, "")},
            transport.options.topic(GROUP),
        )
        await other.commit_transaction()
    finally:
        await other.stop()

    second = await fetched(consumer, 4)
    assert second[0].offset == 4
    with pytest.raises(TransportError):
        await consumer.append_and_commit(0, {}, second[-1].offset + 1)
    await consumer.rewind([0])  # what the consume loop does after a failed batch

    # taken over again (the coordinator still assigns the partition here): from offset 7, not 4
    third = await fetched(consumer, 10)
    assert [m.offset for m in third] == [7, 8, 9]
    await consumer.append_and_commit(0, {}, 10)
    await committed(transport, 10)


async def test_the_coordinator_names_the_partitions_of_each_member(transport: GatedTransport) -> None:
    topic = unique("members")
    await transport.create_topic(topic, 2)
    first = transport.transactional_consumer(GROUP, topic)
    second = transport.transactional_consumer(GROUP, topic)
    await first.start()
    await second.start()
    async with asyncio.timeout(60):
        while not (first.assignment() and second.assignment()):
            await asyncio.gather(first.fetch(1, 0.2), second.fetch(1, 0.2))
        while True:
            members = [_member_id(c._consumer) for c in (first, second) if c._consumer is not None]
            assert all(members)
            views = [await transport.assigned_to(GROUP, topic, str(m)) for m in members]
            if all(view is not None for view in views):
                break
    assert views == [first.assignment(), second.assignment()]
    assert first.assignment() | second.assignment() == {0, 1}
    assert await transport.assigned_to(GROUP, topic, "a-member-that-left") == frozenset()
