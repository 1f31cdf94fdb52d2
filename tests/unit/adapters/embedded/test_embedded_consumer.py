"""Consumer groups: positions, commits, rewind, redelivery, waiting for messages, lag."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence

import pytest

from adapters.embedded import EmbeddedConsumer, EmbeddedLog
from adapters.embedded.codec import partition_for
from adapters.embedded.topic_view import TAIL_MESSAGES
from router.ports import Message, StoredMessage, TransportError

MakeLog = Callable[..., Awaitable[EmbeddedLog]]


def flat(batches: Mapping[int, Sequence[StoredMessage]]) -> list[StoredMessage]:
    return [message for messages in batches.values() for message in messages]


async def drain(consumer: EmbeddedConsumer, max_messages: int = 1000) -> list[StoredMessage]:
    """Everything fetchable now (a short timeout ends it: there is nothing more)."""
    out: list[StoredMessage] = []
    while batches := await consumer.fetch(max_messages, 0.05):
        out.extend(flat(batches))
    return out


async def started(log: EmbeddedLog, group: str = "g", topic: str = "in") -> EmbeddedConsumer:
    consumer = log.consumer(group, topic)
    await consumer.start()
    return consumer


async def test_consumer_owns_every_partition(log: EmbeddedLog) -> None:
    await log.create_topic("in", 5)
    consumer = await started(log)
    assert consumer.group == "g"
    assert consumer.topic == "in"
    assert consumer.assignment() == frozenset(range(5))


async def test_fetch_returns_messages_grouped_by_partition_in_order(log: EmbeddedLog) -> None:
    await log.append("in", [Message(f"k{n % 7}", str(n).encode()) for n in range(200)])
    consumer = await started(log)
    seen = await drain(consumer, 30)
    assert sorted(int(m.value) for m in seen) == list(range(200))
    for key in (f"k{n}" for n in range(7)):
        values = [int(m.value) for m in seen if m.key == key]
        assert values == sorted(values)
        assert {m.partition for m in seen if m.key == key} == {partition_for(key, 8)}


async def test_fetch_respects_max_messages_and_shares_it(log: EmbeddedLog) -> None:
    await log.append("in", [Message(f"k{n}", b"v") for n in range(400)])
    consumer = await started(log)
    batches = await consumer.fetch(40, 0)
    assert sum(len(messages) for messages in batches.values()) == 40
    assert len(batches) == 8  # every partition got a share
    single = await consumer.fetch(1, 0)
    assert sum(len(messages) for messages in single.values()) == 1


async def test_fetch_times_out_empty(log: EmbeddedLog) -> None:
    consumer = await started(log)
    assert await consumer.fetch(10, 0.05) == {}
    assert await consumer.fetch(10, 0) == {}
    assert await consumer.fetch(0, 0) == {}


async def test_fetch_wakes_up_on_append(log: EmbeddedLog) -> None:
    consumer = await started(log)
    waiting = asyncio.create_task(consumer.fetch(10, timeout=600))
    await asyncio.sleep(0.01)
    assert not waiting.done()
    await log.append("in", [Message("k", b"hello")])
    # Far less than the fetch timeout: if it returned, the append woke it.
    batches = await asyncio.wait_for(waiting, 30)
    assert [m.value for m in flat(batches)] == [b"hello"]


async def test_fetch_sees_a_message_as_soon_as_append_returns(log: EmbeddedLog) -> None:
    consumer = await started(log)
    for n in range(20):
        await log.append("in", [Message("k", str(n).encode())])
        assert [m.value for m in flat(await consumer.fetch(10, 0))] == [str(n).encode()]


async def test_rewind_goes_back_to_the_last_batch_never_before_it(log: EmbeddedLog) -> None:
    await log.append("in", [Message("k", str(n).encode()) for n in range(10)])
    partition = partition_for("k", 8)
    consumer = await started(log)
    first = flat(await consumer.fetch(4, 0))
    assert [m.offset for m in first] == [0, 1, 2, 3]
    await consumer.commit({partition: 2})  # the first batch handled; its commit not all there
    assert [m.offset for m in flat(await consumer.fetch(3, 0))] == [4, 5, 6]
    await consumer.rewind([partition])
    assert consumer.position(partition) == 4
    assert [m.offset for m in flat(await consumer.fetch(100, 0))] == list(range(4, 10))
    await consumer.rewind([partition])  # again: the batch of that last fetch
    assert [m.offset for m in flat(await consumer.fetch(100, 0))] == list(range(4, 10))


async def test_rewind_without_commit_fetches_the_batch_again(log: EmbeddedLog) -> None:
    await log.append("in", [Message("k", b"v")] * 3)
    partition = partition_for("k", 8)
    consumer = await started(log)
    assert len(await drain(consumer)) == 3
    await consumer.rewind([partition])
    assert [m.offset for m in await drain(consumer)] == [0, 1, 2]


async def test_rewind_after_the_commit_of_the_batch_stays(log: EmbeddedLog) -> None:
    await log.append("in", [Message("k", b"v")] * 3)
    partition = partition_for("k", 8)
    consumer = await started(log)
    assert len(await drain(consumer)) == 3
    await consumer.commit({partition: 3})
    await consumer.rewind([partition])
    assert consumer.position(partition) == 3
    assert await drain(consumer) == []


async def test_commit_and_rewind_reject_unknown_partitions(log: EmbeddedLog) -> None:
    await log.create_topic("in", 2)
    consumer = await started(log)
    with pytest.raises(ValueError, match="no partition 2"):
        await consumer.commit({2: 0})
    with pytest.raises(ValueError, match="negative"):
        await consumer.commit({0: -1})
    with pytest.raises(ValueError, match="no partition"):
        await consumer.rewind([-1])


async def test_committed_offsets_survive_reopen_and_the_rest_is_redelivered(make_log: MakeLog) -> None:
    log = await make_log()
    await log.append("in", [Message(f"k{n % 3}", str(n).encode()) for n in range(30)])
    consumer = await started(log)
    fetched = await drain(consumer)
    assert len(fetched) == 30
    # Commit half of each partition; the rest was fetched but never committed.
    committed: dict[int, int] = {}
    for partition in {m.partition for m in fetched}:
        offsets = [m.offset for m in fetched if m.partition == partition]
        committed[partition] = offsets[len(offsets) // 2]
    await consumer.commit(committed)
    await log.close()

    log = await make_log()
    assert await log.committed_offsets("g", "in") == committed
    consumer = await started(log)
    redelivered = await drain(consumer)
    expected = [m for m in fetched if m.offset >= committed[m.partition]]
    assert sorted((m.partition, m.offset, m.value) for m in redelivered) == sorted(
        (m.partition, m.offset, m.value) for m in expected
    )


async def test_groups_are_independent(log: EmbeddedLog) -> None:
    await log.append("in", [Message("k", b"v")] * 5)
    partition = partition_for("k", 8)
    a, b = await started(log, "a"), await started(log, "b")
    assert len(await drain(a)) == 5
    await a.commit({partition: 5})
    assert len(await drain(b)) == 5
    assert await log.lag("a", "in") == 0
    assert await log.lag("b", "in") == 5


async def test_lag_is_what_is_not_committed(log: EmbeddedLog) -> None:
    assert await log.lag("g", "nothing-yet") == 0
    await log.append("in", [Message(f"k{n}", b"v") for n in range(50)])
    assert await log.lag("g", "in") == 50
    consumer = await started(log)
    fetched = await drain(consumer)
    assert await log.lag("g", "in") == 50  # fetched is not committed
    ends = await log.end_offsets("in")
    await consumer.commit({partition: end for partition, end in ends.items()})
    assert await log.lag("g", "in") == 0
    await log.append("in", [Message("k1", b"v")] * 3)
    assert await log.lag("g", "in") == 3
    assert len(fetched) == 50


async def test_consumer_starts_lazily_and_creates_its_topic(make_log: MakeLog) -> None:
    log = await make_log(default_partitions=2)
    consumer = log.consumer("g", "new")
    assert await consumer.fetch(5, 0) == {}
    assert consumer.assignment() == frozenset({0, 1})


async def test_closed_consumer_refuses_to_fetch(log: EmbeddedLog) -> None:
    consumer = await started(log)
    await consumer.close()
    with pytest.raises(TransportError):
        await consumer.fetch(1, 0)


async def test_log_close_wakes_a_waiting_fetch_with_an_error(log: EmbeddedLog) -> None:
    consumer = await started(log)
    waiting = asyncio.create_task(consumer.fetch(10, timeout=600))
    await asyncio.sleep(0.01)
    await log.close()
    with pytest.raises(TransportError, match="closed"):
        await asyncio.wait_for(waiting, 30)


async def test_rewind_during_a_fetch_wins(log: EmbeddedLog) -> None:
    # more than the in-memory tail holds, so that reading from offset 3 goes to the reader thread
    await log.append("in", [Message("k", str(n).encode()) for n in range(TAIL_MESSAGES + 10)])
    partition = partition_for("k", 8)
    consumer = await started(log)
    assert [m.offset for m in flat(await consumer.fetch(3, 0))] == [0, 1, 2]
    fetching = asyncio.create_task(consumer.fetch(100, 0))
    await asyncio.sleep(0)  # the fetch is now reading on the reader thread
    await consumer.rewind([partition])
    assert partition not in await fetching  # stale: read from before the rewind
    assert consumer.position(partition) == 0
    assert [m.offset for m in flat(await consumer.fetch(100, 0))] == list(range(100))
