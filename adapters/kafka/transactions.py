"""Routing in Kafka transactions: what a consumer routes from a partition and the partition's offset
are committed together, or not at all (``transport.kafka.routing: transactional``).

One transactional producer per partition of the consumed topic, its ``transactional.id`` naming
the group, the topic and the partition (``<namespace>router.inbound.3``). That id is the same in
every process and across restarts, because fencing works per id: starting a producer
(InitProducerId) aborts the transaction the id's former producer left open and fences that
producer: its next send or commit fails with ``ProducerFenced``. An id per process would not
fence the former owner of a partition: aiokafka's offset commits in a transaction
(TxnOffsetCommit v0) carry no group generation, so the broker cannot refuse a zombie's commit on
its own (KIP-447's single producer per process needs that).

What makes it exactly once is the order the consumer keeps (:mod:`.consumer`): a partition's
messages are handed out only after its producer started and the partition was positioned at the
offset committed then. Each producer's transactions so continue the offsets committed before it
started, and any later producer of the id fences it before committing anything itself. Two
producers of one id in one process would fence each other: :meth:`PartitionTransactions.start`
starts one at a time.

A crash between the appends and the commit of a transaction leaves it open: consumers reading
committed messages (``isolation_level="read_committed"``, every consumer of a transactional bus)
never see its messages, and the partition's next owner aborts it when it starts its producer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, ProducerFenced
from aiokafka.structs import OffsetAndMetadata

from adapters.kafka.options import KafkaOptions
from adapters.kafka.producing import produce
from router.ports import AppendResult, Message, TransportError

log = logging.getLogger(__name__)


class TransactionalCluster(Protocol):
    """What the transactions need of their transport (:class:`~adapters.kafka.transport.KafkaTransport`)."""

    @property
    def options(self) -> KafkaOptions: ...

    def keys(self, topic: str, messages: Sequence[Message]) -> list[bytes]: ...

    def new_producer(self, transactional_id: str | None = None) -> AIOKafkaProducer: ...


# Called after a transaction's messages are durable and before its commit (a test's crash point).
AfterProduce = Callable[[], None]


class PartitionTransactions:
    def __init__(
        self, cluster: TransactionalCluster, group: str, topic: str, after_produce: AfterProduce | None = None
    ) -> None:
        self._cluster = cluster
        options = cluster.options
        self._kafka_group = options.topic(group)
        self._topic = topic
        self._kafka_topic = options.topic(topic)
        self._after_produce = after_produce
        self._producers: dict[int, AIOKafkaProducer] = {}
        self._starting: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    def transactional_id(self, partition: int) -> str:
        return f"{self._kafka_group}.{self._topic}.{partition}"

    async def start(self, partition: int) -> None:
        """Starts the producer of a partition, once: aborts what a former owner (or a failed
        producer of this member) left open and fences it. Concurrent calls for one partition wait
        for the same start: a second producer with the id would fence the first."""
        async with self._starting[partition]:
            if partition in self._producers:
                return
            producer = self._cluster.new_producer(self.transactional_id(partition))
            try:
                await producer.start()  # InitProducerId: the fence
            except KafkaError as exc:
                await _stop(producer)
                raise TransportError(
                    f"cannot start the transactional producer of partition {partition}: {exc}"
                ) from exc
            except BaseException:
                await _stop(producer)
                raise
            self._producers[partition] = producer

    async def release(self, partitions: Collection[int]) -> None:
        """Stops the producers of partitions that moved to another member."""
        await asyncio.gather(*(_stop(self._producers.pop(p, None)) for p in partitions))

    async def close(self) -> None:
        await self.release(list(self._producers))

    async def commit(
        self, partition: int, appends: Mapping[str, Sequence[Message]], next_offset: int
    ) -> None:
        """Appends the messages (by topic) and commits ``next_offset`` of ``partition`` for the
        group, in one transaction. Raises :class:`TransportError` if anything failed: then none of
        it is visible to a reader of committed messages, and the caller routes the batch again."""
        producer = self._producers.get(partition)
        if producer is None:
            raise TransportError(
                f"partition {partition} of {self._kafka_topic!r} has no producer: not taken over"
            )
        keys = {topic: self._cluster.keys(topic, messages) for topic, messages in appends.items() if messages}
        try:
            await producer.begin_transaction()
            await asyncio.gather(
                *(
                    self._produce(producer, topic, appends[topic], topic_keys)
                    for topic, topic_keys in keys.items()
                )
            )
            if self._after_produce is not None:
                self._after_produce()
            await producer.send_offsets_to_transaction(
                {TopicPartition(self._kafka_topic, partition): OffsetAndMetadata(next_offset, "")},
                self._kafka_group,
            )
            await producer.commit_transaction()
        except KafkaError as exc:
            await self._abandon(partition, producer, exc)
            raise TransportError(
                f"the transaction of {self._kafka_topic!r}/{partition} failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def _produce(
        self, producer: AIOKafkaProducer, topic: str, messages: Sequence[Message], keys: Sequence[bytes]
    ) -> None:
        results: list[AppendResult | None] = [None] * len(messages)
        await produce(producer, self._cluster.options.topic(topic), messages, keys, results, True)

    async def _abandon(self, partition: int, producer: AIOKafkaProducer, exc: KafkaError) -> None:
        """After a failed transaction the producer is dropped, its transaction left to the next
        producer of the id to abort. The consumer takes the partition over again before it routes
        more of it (:meth:`~adapters.kafka.consumer.KafkaConsumer.append_and_commit`)."""
        if self._producers.get(partition) is producer:
            del self._producers[partition]
        await _stop(producer)
        if isinstance(exc, ProducerFenced):
            log.warning("%s: the producer of partition %d was fenced", self._kafka_group, partition)


async def _stop(producer: AIOKafkaProducer | None) -> None:
    if producer is None:
        return
    with contextlib.suppress(KafkaError):  # closing: a broker that is gone has nothing left to say
        await producer.stop()
