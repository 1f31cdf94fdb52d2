"""KafkaTransport: :class:`router.ports.Transport` on an Apache Kafka cluster, with aiokafka.

Messages are CloudEvents in Kafka binary mode already (the core puts the attributes in ``ce_*``
headers and the subject in the key); this adapter only moves them. The producer is idempotent with
``acks=all``: a message is acknowledged once every in-sync replica has it, and the producer's own
retries never write it twice or out of order. Partitions follow Kafka's default partitioner
(murmur2 of the key, :mod:`.partitioning`), the same as Java clients use, so an agency producing
straight into a topic with any client puts a subject in the same partition as the bus does. The
messages of one append for one partition go as whole record batches when there are many (the
router's fan-out of a fetched batch), or join aiokafka's open batch when there are few (one
published event); see :func:`.producing.append_to`.

Two promises of the port are weaker here, and said so:

- ``dedup_id``: Kafka has no server-side deduplication by id. The idempotent producer removes the
  duplicates of its own retries, but an event published twice (a client retrying after a lost
  reply, a router re-routing after a crash) is appended twice; ``AppendResult.duplicate`` is
  always false. Receivers deduplicate by event id (webhook deliveries carry ``Idempotency-Key``).
- all-or-nothing ``append``: messages of one call are sent concurrently and each is durable when
  the call returns; if one fails the call raises :class:`TransportError`, but others of the same
  call may have been appended (a retry then appends them again: see the point above). A message
  larger than ``max_message_bytes`` is refused before anything of the call is sent.

A broker away for a while (restarting, a partition leader moving) fails appends with retriable
errors. ``append`` retries them itself, within its ``retry_for_s`` (from the call), resending only
the messages that are not durable yet, on a new producer: so a caller does not fail, re-read and
append again messages that were durable already. See :meth:`KafkaTransport.append`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError, KafkaTimeoutError, OutOfOrderSequenceNumber, ProducerClosed
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from adapters.kafka.consumer import KafkaConsumer
from adapters.kafka.groups import assigned_to
from adapters.kafka.logs import WINDOW_S, flush_kafka_logs, rate_limit_kafka_logs
from adapters.kafka.offsets import committed_offsets
from adapters.kafka.options import KafkaOptions
from adapters.kafka.producing import BATCH_BYTES, produce
from adapters.kafka.topics import ensure_topic, partitions_of
from adapters.kafka.transactions import AfterProduce, PartitionTransactions
from router.ports import AppendResult, Message, TransportError
from router.publishing import INBOUND_TOPIC

log = logging.getLogger(__name__)

# The pause before an append's first retry; it doubles up to the longest.
RETRY_FIRST_S = 0.1
RETRY_LONGEST_S = 2.0


class KafkaTransport:
    def __init__(self, options: KafkaOptions) -> None:
        self.options = options
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        # A consumer outside any group, to read end offsets for lag().
        self._probe: AIOKafkaConsumer | None = None
        self._known_topics: set[str] = set()
        self._consumers: list[KafkaConsumer] = []  # closed with the transport if their owner did not
        # The producer an append failed on, to be replaced before the next append.
        self._broken: AIOKafkaProducer | None = None
        self._replacing = asyncio.Lock()
        self._log_counts: asyncio.Task[None] | None = None

    @property
    def default_partitions(self) -> int:
        return self.options.default_partitions

    async def start(self) -> None:
        if self._producer is not None:
            return
        rate_limit_kafka_logs()
        common = self.options.client_kwargs()
        producer = self.new_producer()
        admin = AIOKafkaAdminClient(**common)
        probe = AIOKafkaConsumer(**common, group_id=None, enable_auto_commit=False)
        try:
            await producer.start()
            await admin.start()
            await probe.start()
        except KafkaError as exc:
            await _quietly_stop(producer, admin, probe)
            raise TransportError(
                f"cannot reach Kafka at {','.join(self.options.bootstrap_servers)}: {exc}"
            ) from exc
        self._producer, self._admin, self._probe = producer, admin, probe
        self._log_counts = asyncio.create_task(_write_log_counts(), name="kafka-log-counts")

    def new_producer(self, transactional_id: str | None = None) -> AIOKafkaProducer:
        """An idempotent producer; a transactional one with ``transactional_id`` (.transactions)."""
        return AIOKafkaProducer(
            **self.options.client_kwargs(),
            enable_idempotence=True,
            transactional_id=transactional_id,
            acks="all",
            max_request_size=self.options.max_message_bytes,
            linger_ms=self.options.linger_ms,
            # aiokafka has one produce request in flight per broker, with one batch per partition:
            # the batch size bounds the throughput of a partition (16 KiB by default).
            max_batch_size=min(BATCH_BYTES, self.options.max_message_bytes),
            request_timeout_ms=self.options.append_timeout_ms,
        )

    async def _current_producer(self) -> AIOKafkaProducer:
        """The producer, replaced first if an append failed on it.

        After a failed append (batches expired while a broker was away) aiokafka's idempotent
        producer is left with sequence numbers the broker no longer accepts
        (``OutOfOrderSequenceNumber`` on every later append). A new producer gets a new producer
        id and starts its sequences afresh. Raises the KafkaError of a new producer that cannot
        reach the cluster.
        """
        if self._producer is None:
            raise TransportError("the Kafka transport is not started")
        if self._broken is not self._producer:
            return self._producer
        async with self._replacing:
            if self._broken is self._producer:
                fresh = self.new_producer()
                try:
                    await fresh.start()
                except KafkaError:
                    await _quietly_stop(fresh)
                    raise
                old, self._producer, self._broken = self._producer, fresh, None
                await _quietly_stop(old)
        if self._producer is None:
            raise TransportError("the Kafka transport is closed")
        return self._producer

    async def close(self) -> None:
        consumers, self._consumers = self._consumers, []
        for consumer in consumers:
            await consumer.close()
        producer, admin, probe = self._producer, self._admin, self._probe
        self._producer = self._admin = self._probe = None
        counts, self._log_counts = self._log_counts, None
        if counts is not None:
            counts.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await counts
        flush_kafka_logs()
        await _quietly_stop(producer, admin, probe)

    async def create_topic(self, topic: str, partitions: int) -> None:
        if topic in self._known_topics:
            return
        await ensure_topic(
            self._admin_client(),
            self.options.topic(topic),
            partitions,
            self.options.replication_factor,
            self.options.max_message_bytes,
        )
        self._known_topics.add(topic)

    async def append(
        self, topic: str, messages: Sequence[Message], *, retry_for_s: float | None = None
    ) -> list[AppendResult]:
        """Appends ``messages``; retries retriable failures until ``retry_for_s`` (from the call;
        ``append_timeout_ms`` when None) has passed, then raises :class:`TransportError`.

        A retry sends again only the messages with no result yet, on a new producer (see
        :meth:`_current_producer`), with a pause that doubles from ``RETRY_FIRST_S`` to
        ``RETRY_LONGEST_S``. A message is durable with no offset known when a later message of
        its partition, sent by the same producer, is durable: the broker accepts a producer's
        batches of a partition only in the order of their sequence numbers.
        """
        if not messages:
            return []
        keys = self.keys(topic, messages)
        loop = asyncio.get_running_loop()
        budget = self.options.append_timeout_ms / 1000 if retry_for_s is None else retry_for_s
        deadline = loop.time() + budget
        results: list[AppendResult | None] = [None] * len(messages)
        pause, retries = RETRY_FIRST_S, 0
        while True:
            try:
                await self._attempt(topic, messages, keys, results)
            except KafkaError as exc:
                if not _retriable(exc) or loop.time() + pause > deadline:
                    raise TransportError(f"cannot append to {topic!r}: {type(exc).__name__}: {exc}") from exc
                if retries == 0:
                    log.warning(
                        "appending to %r failed (%s: %s); retrying the %d messages not durable yet",
                        topic,
                        type(exc).__name__,
                        exc,
                        results.count(None),
                    )
                retries += 1
                await asyncio.sleep(pause)
                pause = min(2 * pause, RETRY_LONGEST_S)
                continue
            if retries:
                log.info("appending to %r succeeded after %d retries", topic, retries)
            return cast(list[AppendResult], results)

    def keys(self, topic: str, messages: Sequence[Message]) -> list[bytes]:
        """The messages' keys, encoded; refuses the call if a message is too large."""
        limit = self.options.max_message_bytes
        keys: list[bytes] = []
        for message in messages:
            key = message.key.encode("utf-8")
            size = DefaultRecordBatchBuilder.estimate_size_in_bytes(key, message.value, list(message.headers))
            if size > limit:
                raise TransportError(f"a message for {topic!r} is larger than {limit} bytes")
            keys.append(key)
        return keys

    async def _attempt(
        self,
        topic: str,
        messages: Sequence[Message],
        keys: Sequence[bytes],
        results: list[AppendResult | None],
    ) -> None:
        """Sends the messages with no result yet, fills in ``results``, raises the first failure."""
        producer = await self._current_producer()
        try:
            await produce(
                producer, self.options.topic(topic), messages, keys, results, topic != INBOUND_TOPIC
            )
        except KafkaError:
            self._broken = producer
            raise

    def consumer(self, group: str, topic: str) -> KafkaConsumer:
        consumer = KafkaConsumer(self, group, topic)
        self._consumers.append(consumer)
        return consumer

    def transactional_consumer(
        self, group: str, topic: str, after_produce: AfterProduce | None = None
    ) -> KafkaConsumer:
        """A member that commits what it produces with its offsets (``append_and_commit``)."""
        transactions = PartitionTransactions(self, group, topic, after_produce)
        consumer = KafkaConsumer(self, group, topic, transactions=transactions)
        self._consumers.append(consumer)
        return consumer

    async def seen(self, topic: str, dedup_id: str) -> bool:
        """Always False: Kafka keeps no dedup ids (docs/kafka.md)."""
        return False

    async def lag(self, group: str, topic: str) -> int:
        admin, probe = self._admin_client(), self._probe
        assert probe is not None
        try:
            name = self.options.topic(topic)
            partitions = [TopicPartition(name, p) for p in await partitions_of(admin, name)]
            if not partitions:
                return 0
            ends = await probe.end_offsets(partitions)
            starts = await probe.beginning_offsets(partitions)
            committed = await committed_offsets(admin, self.options.topic(group), partitions)
        except KafkaError as exc:
            raise TransportError(f"cannot read the lag of {group!r} on {topic!r}: {exc}") from exc
        total = 0
        for tp in partitions:
            done = committed[tp]
            total += max(0, ends[tp] - (starts[tp] if done is None else done))
        return total

    async def committed(self, group: str, topic: str, partitions: Sequence[int]) -> dict[int, int | None]:
        """The group's committed offsets of these partitions (None: never committed); raises
        :class:`~adapters.kafka.offsets.OffsetsUnknown` when the cluster cannot tell now."""
        name = self.options.topic(topic)
        answer = await committed_offsets(
            self._admin_client(), self.options.topic(group), [TopicPartition(name, p) for p in partitions]
        )
        return {tp.partition: offset for tp, offset in answer.items()}

    async def assigned_to(self, group: str, topic: str, member_id: str) -> frozenset[int] | None:
        """The partitions of ``topic`` that the group's coordinator assigns to ``member_id`` now;
        None while the group rebalances (:func:`.groups.assigned_to`)."""
        return await assigned_to(
            self._admin_client(), self.options.topic(group), self.options.topic(topic), member_id
        )

    async def healthy(self) -> bool:
        if self._admin is None:
            return False
        try:
            await self._admin.describe_cluster()
        except KafkaError:
            return False
        return True

    def _admin_client(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            raise TransportError("the Kafka transport is not started")
        return self._admin


async def _write_log_counts() -> None:
    """Every third of the rate limit's window: the counts it held back are written, and loggers
    aiokafka created since the last round get the limit too."""
    while True:
        await asyncio.sleep(WINDOW_S / 3)
        rate_limit_kafka_logs()
        flush_kafka_logs()


async def _quietly_stop(*clients: AIOKafkaProducer | AIOKafkaAdminClient | AIOKafkaConsumer | None) -> None:
    for client in clients:
        if client is None:
            continue
        try:
            if isinstance(client, AIOKafkaAdminClient):
                await client.close()
            else:
                await client.stop()
        except KafkaError:
            pass  # closing: a broker that is gone has nothing left to say


def _retriable(exc: KafkaError) -> bool:
    """Whether trying again, on a new producer, may succeed: aiokafka's retriable errors (no
    leader, a broker unreachable), a request that timed out while a broker was away, and the
    errors a producer's earlier failure leaves behind it (a sequence gap, a stopped producer)."""
    return exc.retriable or isinstance(exc, KafkaTimeoutError | OutOfOrderSequenceNumber | ProducerClosed)
