"""KafkaConsumer: a member of a Kafka consumer group reading one topic (:class:`router.ports.Consumer`).

Offsets are committed only when the caller says so (auto-commit is off): the consume loop commits
a batch once it is routed, delivered or dead-lettered. So a member that dies redelivers to the
next owner what it had not finished, never loses it.

Rebalances: when partitions are taken from this member, the revocation waits (at most
``revoke_wait_s``) until the batch fetched from them has been committed or rewound, so the work
done is committed before the partitions move and the new owner does not repeat it. Past that
wait the partitions move anyway, and the new owner redelivers the unfinished batch (at least once);
a later commit of a partition this member no longer owns is dropped, since its new owner decides.

Positions: :meth:`KafkaConsumer.rewind` moves a partition back to the first message of the batch
last fetched from it, which the member knows itself: it never asks the broker, so a broker that
cannot tell the committed offset now (one restarting) cannot send it back to the beginning. A
partition newly assigned starts at the group's committed offset, read with
:func:`.offsets.committed_offsets` (``auto_offset_reset`` is "none": aiokafka takes a
restarting broker's answer for "no offset" and would reset the partition): from the beginning
only when the group never committed it, or when retention deleted past the committed offset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError, NoOffsetForPartitionError, OffsetOutOfRangeError
from aiokafka.structs import OffsetAndMetadata

from adapters.kafka.offsets import OffsetsUnknown
from adapters.kafka.options import KafkaOptions
from adapters.kafka.transactions import PartitionTransactions
from router.ports import Message, StoredMessage, TransportError

if TYPE_CHECKING:
    from aiokafka.structs import ConsumerRecord

log = logging.getLogger(__name__)

# The pause between attempts to take a partition over again; it doubles up to the longest.
RECOVER_FIRST_S = 0.5
RECOVER_LONGEST_S = 5.0


class ConsumedCluster(Protocol):
    """What a consumer needs of its transport (:class:`~adapters.kafka.transport.KafkaTransport`)."""

    @property
    def options(self) -> KafkaOptions: ...

    @property
    def default_partitions(self) -> int: ...

    async def create_topic(self, topic: str, partitions: int) -> None: ...

    async def committed(self, group: str, topic: str, partitions: Sequence[int]) -> dict[int, int | None]: ...

    async def assigned_to(self, group: str, topic: str, member_id: str) -> frozenset[int] | None: ...


class KafkaConsumer:
    def __init__(
        self,
        transport: ConsumedCluster,
        group: str,
        topic: str,
        *,
        revoke_wait_s: float = 20.0,
        transactions: PartitionTransactions | None = None,
    ) -> None:
        """``transactions``: the producers of :meth:`append_and_commit`, for a member that commits
        what it produces and its offsets together (the router on a transactional bus)."""
        self._transport = transport
        self._transactions = transactions
        self._group = group
        self._topic = topic
        self._revoke_wait_s = revoke_wait_s
        # The names on the cluster (with the namespace); the core sees group and topic.
        self._kafka_topic = transport.options.topic(topic)
        self._kafka_group = transport.options.topic(group)
        self._consumer: AIOKafkaConsumer | None = None
        # Per partition, the batch last fetched and not yet committed or rewound: the offsets of its
        # first message and of the message after its last.
        self._in_flight: dict[int, tuple[int, int]] = {}
        self._settled = asyncio.Event()
        self._closed = False
        # Transactional: partitions being taken over again after a failed transaction (paused).
        self._recoveries: dict[int, asyncio.Task[None]] = {}

    @property
    def group(self) -> str:
        return self._group

    @property
    def topic(self) -> str:
        return self._topic

    async def start(self) -> None:
        """Creates the topic if needed and joins the group (returns before partitions are assigned)."""
        if self._consumer is not None:
            return
        self._check_open()
        await self._transport.create_topic(self._topic, self._transport.default_partitions)
        options = self._transport.options
        consumer = AIOKafkaConsumer(
            **options.client_kwargs(),
            group_id=self._kafka_group,
            enable_auto_commit=False,
            # a partition with no committed offset raises, and fetch() asks the cluster why
            auto_offset_reset="none",
            # on a transactional bus, no message of a transaction aborted or still open
            isolation_level=options.isolation_level,
            max_partition_fetch_bytes=options.max_message_bytes,
            # The revocation wait must fit in the rebalance timeout.
            rebalance_timeout_ms=int((self._revoke_wait_s + 10) * 1000),
        )
        consumer.subscribe([self._kafka_topic], listener=_Listener(self, consumer))
        try:
            await consumer.start()
        except KafkaError as exc:
            await consumer.stop()
            raise TransportError(f"cannot join the group {self._group!r}: {exc}") from exc
        self._consumer = consumer

    async def close(self) -> None:
        """Leaves the group (its partitions go to the other members at once); commits nothing."""
        self._closed = True
        await self._cancel_recoveries(list(self._recoveries))
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await consumer.stop()
            except KafkaError:
                log.warning("%s: leaving the group failed", self._group, exc_info=True)
        if self._transactions is not None:
            await self._transactions.close()

    def assignment(self) -> frozenset[int]:
        if self._consumer is None:
            return frozenset()
        return frozenset(tp.partition for tp in self._consumer.assignment() if tp.topic == self._kafka_topic)

    async def fetch(self, max_messages: int, timeout: float) -> Mapping[int, Sequence[StoredMessage]]:
        consumer = await self._started()
        if max_messages <= 0:
            return {}
        try:
            records = await consumer.getmany(
                timeout_ms=int(max(0.0, timeout) * 1000), max_records=max_messages
            )
        except NoOffsetForPartitionError as exc:
            await self._position_uncommitted(consumer, exc.args[0])
            return {}
        except OffsetOutOfRangeError as exc:
            await self._position_out_of_range(consumer, dict(exc.args[0]))
            return {}
        except KafkaError as exc:
            raise TransportError(f"cannot fetch from {self._topic!r}: {exc}") from exc
        batches: dict[int, list[StoredMessage]] = {}
        for tp, items in records.items():
            if items:
                batches[tp.partition] = [_stored(self._topic, record) for record in items]
                self._in_flight[tp.partition] = (items[0].offset, items[-1].offset + 1)
        if batches:
            self._settled.clear()
        return batches

    async def _position_out_of_range(
        self, consumer: AIOKafkaConsumer, positions: dict[TopicPartition, int]
    ) -> None:
        """A position the log no longer has. Below its start, retention deleted messages not yet
        read: go on from the first one retained. Past its end, the log lost its newest messages
        (an unclean leader election): go on from its new end, where the next messages will be
        written; never from the beginning, which would deliver the whole log again."""
        partitions = list(positions)
        try:
            starts = await consumer.beginning_offsets(partitions)
            ends = await consumer.end_offsets(partitions)
        except KafkaError as exc:
            raise TransportError(f"cannot read the offsets of {self._topic!r}: {exc}") from exc
        for tp, position in positions.items():
            if position < starts[tp]:
                consumer.seek(tp, starts[tp])
            else:
                log.warning(
                    "%s: %s/%d ends at %d, before the position %d: its newest messages were lost",
                    self._group,
                    self._topic,
                    tp.partition,
                    ends[tp],
                    position,
                )
                consumer.seek(tp, ends[tp])

    async def commit(self, offsets: Mapping[int, int]) -> None:
        consumer = await self._started()
        for partition, offset in offsets.items():
            if offset < 0:
                raise ValueError(f"offset {offset} of partition {partition} is negative")
        owned = self.assignment()
        mine = {
            TopicPartition(self._kafka_topic, p): OffsetAndMetadata(o, "")
            for p, o in offsets.items()
            if p in owned
        }
        if mine:
            try:
                await consumer.commit(mine)
            except KafkaError as exc:
                raise TransportError(f"cannot commit offsets of {self._group!r}: {exc}") from exc
        for partition, offset in offsets.items():
            batch = self._in_flight.get(partition)
            if batch is not None and batch[1] <= offset:
                del self._in_flight[partition]
        self._signal()

    async def append_and_commit(
        self, partition: int, appends: Mapping[str, Sequence[Message]], next_offset: int
    ) -> None:
        """Appends the messages (by topic) and commits ``next_offset`` of ``partition``, in one
        Kafka transaction (:mod:`.transactions`): both or neither, even across a crash.

        A failed transaction stops the partition (paused: nothing more of it is handed out) until
        it is taken over again: once the group's coordinator confirms the partition is still this
        member's, a new producer with its transactional id aborts what the failed one left open,
        and the partition goes on from the offset committed then, not from this member's position
        (another owner may have committed past it). A former owner that has not learnt its
        partition moved so never routes a batch that the new owner committed."""
        if self._transactions is None:
            raise TransportError(f"the consumer of {self._group!r} is not transactional")
        consumer = await self._started()
        if partition not in self.assignment():
            raise TransportError(f"partition {partition} of {self._topic!r} is no longer this member's")
        try:
            await self._transactions.commit(partition, appends, next_offset)
        except TransportError:
            if partition in self.assignment() and partition not in self._recoveries:
                self._hold(consumer, (partition,))
                self._recoveries[partition] = asyncio.create_task(
                    self._recover(consumer, partition), name=f"{self._group}-take-over-{partition}"
                )
            self._in_flight.pop(partition, None)  # nothing to rewind: the take-over positions it
            self._signal()
            raise
        batch = self._in_flight.get(partition)
        if batch is not None and batch[1] <= next_offset:
            del self._in_flight[partition]
        self._signal()

    async def rewind(self, partitions: Sequence[int]) -> None:
        """Moves these partitions back to the first message of the batch last fetched from them."""
        consumer = await self._started()
        owned = self.assignment()
        for partition in partitions:
            batch = self._in_flight.pop(partition, None)
            if batch is None or partition not in owned:
                # nothing handed out since the last commit or rewind; or the partition moved to
                # another member, which starts from the committed offset
                continue
            try:
                consumer.seek(TopicPartition(self._kafka_topic, partition), batch[0])
            except KafkaError as exc:
                raise TransportError(f"cannot rewind {self._topic!r}/{partition}: {exc}") from exc
        self._signal()

    async def _position_uncommitted(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        """Positions an assigned partition that aiokafka found no committed offset for: at the
        committed offset after all if the cluster has one, at the beginning if the group never
        committed it; if the cluster cannot tell now, aiokafka asks again at the next fetch."""
        try:
            committed = (await self._transport.committed(self._group, self._topic, [tp.partition]))[
                tp.partition
            ]
        except OffsetsUnknown:
            log.debug("%s: the committed offset of %s is unknown for now", self._group, tp)
            return
        except KafkaError as exc:
            raise TransportError(f"cannot read the committed offsets of {self._group!r}: {exc}") from exc
        if tp not in consumer.assignment():
            return
        if committed is None:
            await consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, committed)

    # --- rebalances ---------------------------------------------------------------------------

    async def _before_revoke(self, partitions: frozenset[int]) -> None:
        """Waits until the batch in hand from these partitions is committed (or rewound)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._revoke_wait_s
        while partitions & self._in_flight.keys():
            remaining = deadline - loop.time()
            if remaining <= 0 or self._closed:
                log.warning(
                    "%s: partitions %s revoked before their batch was committed; the new owner redelivers it",
                    self._group,
                    sorted(partitions & self._in_flight.keys()),
                )
                break
            self._settled.clear()
            try:
                async with asyncio.timeout(remaining):
                    await self._settled.wait()
            except TimeoutError:
                continue
        for partition in partitions:
            self._in_flight.pop(partition, None)
        if self._transactions is not None:
            await self._cancel_recoveries(partitions)
            await self._transactions.release(partitions)

    async def _after_assign(self, consumer: AIOKafkaConsumer, partitions: frozenset[int]) -> None:
        """On a transactional member: takes these partitions over before any of their messages is
        handed out (aiokafka assigns them, and may fetch from them, before this callback)."""
        if self._transactions is None or not partitions:
            return
        self._hold(consumer, partitions)
        taken = await self._take_over(consumer, partitions)
        for partition in partitions - taken:
            if partition not in self._recoveries:
                self._recoveries[partition] = asyncio.create_task(
                    self._recover(consumer, partition), name=f"{self._group}-take-over-{partition}"
                )

    async def _take_over(self, consumer: AIOKafkaConsumer, partitions: frozenset[int]) -> frozenset[int]:
        """Starts the producers of these (paused) partitions, which fences their former owners,
        then resumes them at the offsets committed once no former owner can commit any more
        (aiokafka read its positions when a former owner's transaction could still commit).
        Returns the partitions resumed; the others stay paused (a failure is logged)."""
        assert self._transactions is not None
        transactions = self._transactions
        ordered = sorted(partitions)
        outcomes = await asyncio.gather(*(transactions.start(p) for p in ordered), return_exceptions=True)
        started = []
        for partition, outcome in zip(ordered, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                log.warning("%s: partition %d not taken over: %s", self._group, partition, outcome)
            else:
                started.append(partition)
        if not started:
            return frozenset()
        try:
            committed = await self._transport.committed(self._group, self._topic, started)
        except KafkaError as exc:
            log.warning("%s: committed offsets of %s not read: %s", self._group, started, exc)
            return frozenset()
        owned = consumer.assignment()
        resumed = []
        for partition in started:
            tp = TopicPartition(self._kafka_topic, partition)
            if tp not in owned:
                continue
            offset = committed[partition]
            if offset is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, offset)
            self._in_flight.pop(partition, None)
            resumed.append(tp)
        consumer.resume(*resumed)
        return frozenset(tp.partition for tp in resumed)

    async def _recover(self, consumer: AIOKafkaConsumer, partition: int) -> None:
        """Takes a partition over again after a failed transaction or take-over, once the
        group's coordinator says its current generation assigns it to this member. While the
        group rebalances, or gives the partition to another member, the partition stays paused
        here; its revocation reaches this member with its next heartbeat and ends this task."""
        pause = RECOVER_FIRST_S
        try:
            while not self._closed and partition in self.assignment():
                try:
                    if await self._assigned_here(consumer, partition) and partition in await self._take_over(
                        consumer, frozenset((partition,))
                    ):
                        return
                except KafkaError as exc:
                    log.warning(
                        "%s: the assignment of partition %d not confirmed: %s", self._group, partition, exc
                    )
                await asyncio.sleep(pause)
                pause = min(2 * pause, RECOVER_LONGEST_S)
        finally:
            if self._recoveries.get(partition) is asyncio.current_task():
                del self._recoveries[partition]

    async def _assigned_here(self, consumer: AIOKafkaConsumer, partition: int) -> bool:
        member_id = _member_id(consumer)
        if member_id is None:
            return False
        assigned = await self._transport.assigned_to(self._group, self._topic, member_id)
        return assigned is not None and partition in assigned

    def _hold(self, consumer: AIOKafkaConsumer, partitions: Iterable[int]) -> None:
        owned = consumer.assignment()
        held = [TopicPartition(self._kafka_topic, p) for p in partitions]
        consumer.pause(*(tp for tp in held if tp in owned))

    async def _cancel_recoveries(self, partitions: Iterable[int]) -> None:
        tasks = [task for p in partitions if (task := self._recoveries.pop(p, None)) is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _signal(self) -> None:
        self._settled.set()

    async def _started(self) -> AIOKafkaConsumer:
        self._check_open()
        if self._consumer is None:
            await self.start()
        assert self._consumer is not None
        return self._consumer

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError("the consumer is closed")


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: KafkaConsumer, consumer: AIOKafkaConsumer) -> None:
        self._owner = owner
        self._consumer = consumer

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner._before_revoke(frozenset(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._owner._after_assign(self._consumer, frozenset(tp.partition for tp in assigned))


def _member_id(consumer: AIOKafkaConsumer) -> str | None:
    """The consumer's member id in its group (aiokafka keeps it on its group coordinator only);
    None before it joined."""
    coordinator = getattr(consumer, "_coordinator", None)
    member_id = getattr(coordinator, "member_id", None)
    return member_id if isinstance(member_id, str) and member_id else None


def _stored(topic: str, record: ConsumerRecord[bytes, bytes]) -> StoredMessage:
    # Runs for every message consumed: positional arguments, and the headers as aiokafka gives
    # them (already a tuple of (name, value) pairs; copied only if a version ever gives a list).
    # Direct producers may send no key or no value; the bus's own messages always have both.
    key, value, headers = record.key, record.value, record.headers
    return StoredMessage(
        topic,
        record.partition,
        record.offset,
        key.decode("utf-8", "replace") if key is not None else "",
        value if value is not None else b"",
        headers if type(headers) is tuple else tuple(headers),
        record.timestamp,
    )
