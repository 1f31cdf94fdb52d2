"""What every transport promises the core (router.ports.Transport and Consumer), checked on each."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from router.ports import Consumer, Message, StoredMessage, Transport
from tests.contract.conftest import PARTITIONS, Backend

# A generous bound so that a broken transport fails instead of hanging; never asserted as a timing.
PATIENCE_S = 60.0


def flat(batches: Mapping[int, Sequence[StoredMessage]]) -> list[StoredMessage]:
    return [message for messages in batches.values() for message in messages]


async def collect(consumer: Consumer, count: int, max_messages: int = 500) -> list[StoredMessage]:
    """Fetches until ``count`` messages came (a Kafka member first waits for its partitions)."""
    out: list[StoredMessage] = []
    async with asyncio.timeout(PATIENCE_S):
        while len(out) < count:
            out.extend(flat(await consumer.fetch(max_messages, 0.5)))
    return out


async def nothing_more(consumer: Consumer) -> list[StoredMessage]:
    """What a consumer that has everything still fetches: should be nothing."""
    out: list[StoredMessage] = []
    for _ in range(3):
        out.extend(flat(await consumer.fetch(100, 0.3)))
    return out


async def started(transport: Transport, group: str, topic: str) -> Consumer:
    consumer = transport.consumer(group, topic)
    await consumer.start()
    return consumer


def next_offsets(messages: Sequence[StoredMessage]) -> dict[int, int]:
    offsets: dict[int, int] = {}
    for message in messages:
        offsets[message.partition] = max(offsets.get(message.partition, 0), message.offset + 1)
    return offsets


async def test_order_per_key_and_append_results(backend: Backend) -> None:
    transport = await backend.open()
    topic = backend.name("order")
    await transport.create_topic(topic, PARTITIONS)
    sent = [Message(f"subject-{n % 13}", str(n).encode()) for n in range(600)]
    results = []
    for start in range(0, len(sent), 100):
        results.extend(await transport.append(topic, sent[start : start + 100]))
    assert len(results) == len(sent)
    assert not any(result.duplicate for result in results)
    # Offsets grow in the order of the calls, per partition.
    last: dict[int, int] = {}
    for result in results:
        assert result.offset is not None and result.offset > last.get(result.partition, -1)
        last[result.partition] = result.offset

    consumer = await started(transport, backend.name("g"), topic)
    seen = await collect(consumer, len(sent), max_messages=37)
    assert sorted(int(m.value) for m in seen) == list(range(600))
    for key in {m.key for m in sent}:
        mine = [m for m in seen if m.key == key]
        assert [int(m.value) for m in mine] == sorted(int(m.value) for m in mine)
        assert len({m.partition for m in mine}) == 1
    assert consumer.assignment() == frozenset(range(PARTITIONS))


async def test_commit_moves_the_group_forward_and_lag_follows(backend: Backend) -> None:
    transport = await backend.open()
    topic, group = backend.name("commit"), backend.name("g")
    await transport.create_topic(topic, PARTITIONS)
    await transport.append(topic, [Message(f"k{n}", b"first") for n in range(40)])
    consumer = await started(transport, group, topic)
    first = await collect(consumer, 40)
    assert await transport.lag(group, topic) == 40  # fetched is not done
    await consumer.commit(next_offsets(first))
    assert await transport.lag(group, topic) == 0
    await consumer.close()

    # A new member of the group starts after the commit: only what came since.
    await transport.append(topic, [Message(f"k{n}", b"second") for n in range(10)])
    assert await transport.lag(group, topic) == 10
    again = await started(transport, group, topic)
    second = await collect(again, 10)
    assert {m.value for m in second} == {b"second"}
    assert await nothing_more(again) == []
    # Another group reads everything, independently.
    other = await started(transport, backend.name("other"), topic)
    assert len(await collect(other, 50)) == 50


async def test_uncommitted_messages_are_redelivered_to_the_next_member(backend: Backend) -> None:
    transport = await backend.open()
    topic, group = backend.name("redeliver"), backend.name("g")
    await transport.create_topic(topic, PARTITIONS)
    await transport.append(topic, [Message(f"k{n % 8}", str(n).encode()) for n in range(80)])
    consumer = await started(transport, group, topic)
    seen = await collect(consumer, 80)
    # Only the first message of each partition is done; the member goes away before the rest.
    done = {p: min(m.offset for m in seen if m.partition == p) + 1 for p in {m.partition for m in seen}}
    await consumer.commit(done)
    await consumer.close()

    successor = await started(transport, group, topic)
    redelivered = await collect(successor, 80 - len(done))
    expected = {(m.partition, m.offset) for m in seen if m.offset >= done[m.partition]}
    assert {(m.partition, m.offset) for m in redelivered} == expected
    assert await nothing_more(successor) == []


async def next_batch(consumer: Consumer, max_messages: int) -> list[StoredMessage]:
    """The next non-empty fetch (a Kafka member first waits for its partitions)."""
    async with asyncio.timeout(PATIENCE_S):
        while not (batch := flat(await consumer.fetch(max_messages, 0.5))):
            pass
    return batch


def positions(messages: Sequence[StoredMessage]) -> list[tuple[int, int]]:
    return [(m.partition, m.offset) for m in messages]


async def test_rewind_fetches_the_batch_in_hand_again_and_nothing_before_it(backend: Backend) -> None:
    transport = await backend.open()
    topic = backend.name("rewind")
    await transport.create_topic(topic, PARTITIONS)
    await transport.append(topic, [Message("one-subject", str(n).encode()) for n in range(60)])
    consumer = await started(transport, backend.name("g"), topic)
    first = await next_batch(consumer, 10)
    (partition,) = {m.partition for m in first}
    # The first batch was handled; its commit has not landed (in flight, or failed: the next
    # commit covers it). The second batch fails and is rewound: only it comes again.
    second = await next_batch(consumer, 10)
    await consumer.rewind([partition])
    again = await collect(consumer, len(second), max_messages=len(second))
    assert positions(again[: len(second)]) == positions(second)

    # Committed, then the next batch rewound: again that batch, from where it started.
    await consumer.commit(next_offsets(again))
    third = await next_batch(consumer, 10)
    await consumer.rewind([partition])
    await consumer.rewind([partition])  # twice: nothing was fetched since the first
    repeated = await collect(consumer, len(third), max_messages=len(third))
    assert positions(repeated[: len(third)]) == positions(third)


async def test_rewind_of_every_partition_fetches_the_whole_batch_again(backend: Backend) -> None:
    transport = await backend.open()
    topic = backend.name("rewind")
    await transport.create_topic(topic, PARTITIONS)
    await transport.append(topic, [Message(f"k{n}", str(n).encode()) for n in range(20)])
    consumer = await started(transport, backend.name("g"), topic)
    seen = await collect(consumer, 20)
    await consumer.rewind(sorted({m.partition for m in seen}))
    again = await collect(consumer, 20)
    assert sorted(positions(again)) == sorted(positions(seen))


async def test_offsets_survive_a_restart_of_the_transport(backend: Backend) -> None:
    first = await backend.open()
    topic, group = backend.name("restart"), backend.name("g")
    await first.create_topic(topic, PARTITIONS)
    await first.append(topic, [Message(f"k{n}", b"before") for n in range(30)])
    consumer = await started(first, group, topic)
    await consumer.commit(next_offsets(await collect(consumer, 30)))
    await consumer.close()
    await first.close()

    second = await backend.open()
    await second.append(topic, [Message(f"k{n}", b"after") for n in range(5)])
    consumer = await started(second, group, topic)
    assert {m.value for m in await collect(consumer, 5)} == {b"after"}
    assert await nothing_more(consumer) == []


async def test_headers_keys_and_values_round_trip_exactly(backend: Backend) -> None:
    transport = await backend.open()
    topic = backend.name("headers")
    await transport.create_topic(topic, PARTITIONS)
    headers = (
        ("ce_id", b"evt-1"),
        ("ce_source", b"000.00.00.H49/motcua"),
        ("ce_subject", "hồ-sơ/1".encode()),
        ("content-type", b"application/json"),
        ("empty", b""),
        ("binary", bytes(range(256))),
        ("ce_id", b"repeated names keep their order"),
    )
    value = b'{"ok": true}\x00\xff'
    await transport.append(topic, [Message("hồ-sơ/1", value, headers, timestamp_ms=1_700_000_000_123)])
    (message,) = await collect(await started(transport, backend.name("g"), topic), 1)
    assert message.headers == headers
    assert message.key == "hồ-sơ/1"
    assert message.value == value
    assert message.timestamp_ms == 1_700_000_000_123
    assert message.header("binary") == bytes(range(256))


async def test_large_messages_pass_whole(backend: Backend) -> None:
    transport = await backend.open()
    topic = backend.name("large")
    await transport.create_topic(topic, PARTITIONS)
    big = [bytes([n]) * (1 << 20) for n in range(3)]  # 1 MiB each
    await transport.append(topic, [Message("same-key", value, (("ce_id", b"x"),)) for value in big])
    seen = await collect(await started(transport, backend.name("g"), topic), 3, max_messages=1)
    assert [m.value for m in seen] == big


async def test_many_partitions_are_all_assigned_and_used(backend: Backend) -> None:
    transport = await backend.open()
    topic = backend.name("wide")
    await transport.create_topic(topic, 32)
    await transport.create_topic(topic, 4)  # an existing topic keeps its partitions
    results = await transport.append(topic, [Message(f"subject-{n}", str(n).encode()) for n in range(640)])
    assert {r.partition for r in results} == set(range(32))
    consumer = await started(transport, backend.name("g"), topic)
    seen = await collect(consumer, 640)
    assert sorted(int(m.value) for m in seen) == list(range(640))
    assert consumer.assignment() == frozenset(range(32))
    assert await transport.healthy()
