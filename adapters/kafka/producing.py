"""Producing a call's messages: each to its key's partition, many of a partition as whole record
batches (see :func:`append_to`); shared by plain appends and transactions."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, ProducerClosed
from aiokafka.structs import RecordMetadata

from adapters.kafka.partitioning import partition_of
from router.ports import AppendResult, Message, TransportError

# The largest record batch the producer builds: well under Kafka's default max.message.bytes
# (1 MiB), which topics created outside the bus may keep.
BATCH_BYTES = 256 << 10
# From this many records of one append for one partition on, they go as batches of their own.
BATCH_MIN_RECORDS = 16


async def produce(
    producer: AIOKafkaProducer,
    name: str,
    messages: Sequence[Message],
    keys: Sequence[bytes],
    results: list[AppendResult | None],
    whole: bool,
) -> None:
    """Sends to the topic ``name`` the messages with no result yet, each to its key's partition;
    fills in ``results``, raises the first failure.

    ``whole``: many messages of a partition go as whole record batches of their own, where one
    writer appends in turn (the router's fan-out to the delivery topics): aiokafka queues a whole
    batch only behind an empty partition queue, so on the inbound topic, where concurrent publish
    requests keep adding single events, a batch publish could wait there until it timed out.
    """
    # Sorted partition ids: the default partitioner's list (see .partitioning).
    partitions = sorted(await producer.partitions_for(name))
    if not partitions:
        raise TransportError(f"the topic {name!r} has no partitions")
    # The messages of each partition, in the order of the call: their order in the log.
    by_partition: dict[int, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        if results[index] is None:
            by_partition[partition_of(key, partitions)].append(index)
    # Partitions are filled side by side: one produce request carries a batch of each.
    await asyncio.gather(
        *(
            append_to(producer, name, partition, indexes, messages, keys, results, whole)
            for partition, indexes in by_partition.items()
        )
    )


async def append_to(
    producer: AIOKafkaProducer,
    name: str,
    partition: int,
    indexes: Sequence[int],
    messages: Sequence[Message],
    keys: Sequence[bytes],
    results: list[AppendResult | None],
    whole_batches: bool = True,
) -> None:
    """Appends the messages ``indexes`` of one partition, in that order; fills in ``results`` for
    each that is durable, then raises the first failure of the others.

    Many of them go as whole record batches of their own (aiokafka's ``send_batch``): one future
    per batch instead of one per message, whose ``send`` (metadata look-ups, partitioner, a future
    and its callbacks per message) costs more than all the router's checks. A batch is closed
    when complete, so it leaves without waiting for ``linger_ms``; it is durable (acks=all) when
    its future resolves, and its records have consecutive offsets from its base offset. It holds
    the producer's ``max_batch_size`` at most, or one larger record; aiokafka queues the next
    batch of a partition once the previous one left for the broker.

    A few of them join, one by one, the batch that aiokafka has open for the partition, with those
    of concurrent appends: a batch of their own would wait for it.
    """
    # (indexes, future of their batch) in the order sent: a future gives the offset of the first
    sent: list[tuple[Sequence[int], asyncio.Future[RecordMetadata]]] = []
    refused: KafkaError | None = None  # what stopped the queueing of the rest, if anything
    try:
        if not whole_batches or len(indexes) < BATCH_MIN_RECORDS:
            for index in indexes:
                message = messages[index]
                future = await producer.send(
                    name,
                    message.value,
                    key=keys[index],
                    partition=partition,
                    timestamp_ms=message.timestamp_ms or None,
                    headers=list(message.headers),
                )
                sent.append(((index,), future))
        else:
            batch = producer.create_batch()
            start = 0
            for position, index in enumerate(indexes):
                message = messages[index]
                # the headers as a list (aiokafka's record builder takes no tuple), dropped once copied
                key, value, headers = keys[index], message.value, list(message.headers)
                timestamp = message.timestamp_ms or None
                if batch.append(timestamp=timestamp, key=key, value=value, headers=headers) is None:
                    # full: send it, and start the next one with this record (a first record always fits)
                    future = await producer.send_batch(batch, name, partition=partition)
                    sent.append((indexes[start:position], future))
                    batch, start = producer.create_batch(), position
                    batch.append(timestamp=timestamp, key=key, value=value, headers=headers)
            batch.close()
            sent.append((indexes[start:], await producer.send_batch(batch, name, partition=partition)))
    except KafkaError as exc:
        refused = exc
    # Every batch queued is awaited, whatever became of the others: what is durable is not sent again.
    outcomes = await asyncio.gather(*(future for _, future in sent), return_exceptions=True)
    # a batch cancelled by its producer's stop (a replacement) was not sent: like a closed producer
    outcomes = [ProducerClosed() if isinstance(o, asyncio.CancelledError) else o for o in outcomes]
    last_durable = max(
        (n for n, outcome in enumerate(outcomes) if isinstance(outcome, RecordMetadata)), default=-1
    )
    failure: BaseException | None = None
    for n, ((batch_indexes, _), outcome) in enumerate(zip(sent, outcomes, strict=True)):
        if isinstance(outcome, RecordMetadata):
            for offset, index in enumerate(batch_indexes, outcome.offset):
                results[index] = AppendResult(partition=partition, offset=offset)
        elif n < last_durable:
            # reported failed (its reply lost), yet a later batch of the producer was accepted
            for index in batch_indexes:
                results[index] = AppendResult(partition=partition, offset=None)
        elif failure is None:
            failure = outcome
    if failure is not None:
        raise failure
    if refused is not None:
        raise refused
