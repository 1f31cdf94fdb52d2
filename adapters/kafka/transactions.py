"""Routing in Kafka transactions: what a consumer routes from a partition and the partition's offset
are committed together, or not at all (``transport.kafka.routing: transactional``).

One transactional producer per partition of the consumed topic, its ``transactional.id`` naming
the group, the topic and the partition (``<namespace>router.inbound.3``). That id is the same in
every process and across restarts, because fencing works per id: the member that is assigned a
partition starts its producer before it reads the partition's committed offset, which (Kafka's
InitProducerId) aborts the transaction a crashed owner left open and fences a live former owner
(a process paused past its session, whose partitions moved): that one's next send or commit fails
with ``ProducerFenced`` (and its consumer, once it learns the partition moved, commits nothing of it). An id per process would not
fence the former owner of a partition: aiokafka's offset commits in a transaction
(TxnOffsetCommit v0) carry no group generation, so the broker cannot refuse a zombie's commit on
its own (KIP-447's single producer per process needs that).

A crash between the appends and the commit of a transaction leaves it open: consumers reading
committed messages (``isolation_level="read_committed"``, every consumer of a transactional bus)
never see its messages, and the partition's next owner aborts it when it starts its producer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
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

    def transactional_id(self, partition: int) -> str:
        return f"{self._kafka_group}.{self._topic}.{partition}"

    async def fence(self, partitions: Collection[int]) -> None:
        """Starts the producers of partitions newly assigned: aborts what a former owner left open
        and fences it. Returns once no former owner can commit anything of these partitions."""
        await asyncio.gather(*(self._start(p) for p in partitions if p not in self._producers))

    async def _start(self, partition: int) -> None:
        producer = self._cluster.new_producer(self.transactional_id(partition))
        try:
            await producer.start()  # InitProducerId: the fence
        except KafkaError as exc:
            await _stop(producer)
            raise TransportError(
                f"cannot start the transactional producer of partition {partition}: {exc}"
            ) from exc
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
        if partition not in self._producers:
            await self._start(partition)  # a producer replaced after a failure that could not start then
        producer = self._producers[partition]
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
        """After a failed transaction the producer is dropped; the next commit of the partition
        starts a new one with the same id, whose InitProducerId aborts what this one left open
        and takes the next epoch. The caller commits only partitions assigned to this member
        (:meth:`~adapters.kafka.consumer.KafkaConsumer.append_and_commit`), so a fence seen here
        while the partition is still this member's is the broker refusing this producer's epoch,
        not another owner: the partition goes on with a new producer instead of stalling."""
        if self._producers.get(partition) is producer:
            del self._producers[partition]
        await _stop(producer)
        if isinstance(exc, ProducerFenced):
            log.warning(
                "%s: producer of partition %d fenced; a new one takes over", self._kafka_group, partition
            )


async def _stop(producer: AIOKafkaProducer | None) -> None:
    if producer is None:
        return
    with contextlib.suppress(KafkaError):  # closing: a broker that is gone has nothing left to say
        await producer.stop()
