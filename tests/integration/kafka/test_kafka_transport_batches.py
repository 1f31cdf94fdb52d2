"""KafkaTransport.append on a real broker: many messages of a partition go as whole record
batches (several when they pass the batch size), a few join aiokafka's open batch; either way
the results name where each message landed, in the order of the call, and a message too large
is refused before anything of the call is appended."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.kafka import KafkaOptions, KafkaTransport
from adapters.kafka.producing import BATCH_BYTES, BATCH_MIN_RECORDS
from router.ports import Message, TransportError
from tests.support.kafka import kafka_bootstrap, read_topic, unique

pytestmark = pytest.mark.kafka


@pytest.fixture
async def transport() -> AsyncIterator[KafkaTransport]:
    opened = KafkaTransport(KafkaOptions(kafka_bootstrap(), default_partitions=4, namespace="batches."))
    await opened.start()
    yield opened
    await opened.close()


async def test_full_batches_and_single_sends_keep_the_order_of_the_call(transport: KafkaTransport) -> None:
    topic = unique("batches")
    await transport.create_topic(topic, 4)
    big = BATCH_BYTES // 3  # three per batch at most: several batches for the one key
    many = [
        Message("one-subject", f"{n:04d}".encode() * (big // 4), (("ce_id", str(n).encode()),))
        for n in range(20)
    ]
    few = [Message(f"other-{n}", str(n).encode(), (("ce_id", str(100 + n).encode()),)) for n in range(3)]
    assert len(many) >= BATCH_MIN_RECORDS > len(few)
    sent = [
        message for pair in zip(many, few + [None] * len(many), strict=False) for message in pair if message
    ]
    results = await transport.append(topic, sent)

    assert len(results) == len(sent)
    by_partition: dict[int, list[int | None]] = {}
    for result in results:
        by_partition.setdefault(result.partition, []).append(result.offset)
    # a fresh topic: each partition holds the call's messages at 0, 1, 2... in the order of the call
    for offsets in by_partition.values():
        assert offsets == list(range(len(offsets)))
    assert len({r.partition for r, m in zip(results, sent, strict=True) if m.key == "one-subject"}) == 1

    records = await read_topic(transport.options.topic(topic), len(sent))
    where = {(r.partition, r.offset): r for r in records}
    for result, message in zip(results, sent, strict=True):
        record = where[(result.partition, result.offset)]
        assert record.key == message.key.encode() and record.value == message.value
        assert tuple(record.headers) == message.headers


async def test_a_message_too_large_is_refused_before_anything_is_appended(transport: KafkaTransport) -> None:
    topic = unique("too-large")
    await transport.create_topic(topic, 4)
    limit = transport.options.max_message_bytes
    with pytest.raises(TransportError, match="larger than"):
        await transport.append(topic, [Message("a", b"first"), Message("b", b"x" * (limit + 1))])
    # nothing of the refused call was written, and the transport goes on appending
    (result,) = await transport.append(topic, [Message("a", b"after")])
    assert result.offset == 0
    (record,) = await read_topic(transport.options.topic(topic), 1)
    assert record.value == b"after"
