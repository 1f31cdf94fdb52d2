"""The in-memory tail: fetches inside it are answered from memory, and must equal the file."""

from __future__ import annotations

from adapters.embedded import EmbeddedLog
from adapters.embedded.codec import partition_for
from adapters.embedded.topic_view import TAIL_MESSAGES
from router.ports import Message
from tests.unit.adapters.embedded.conftest import MakeLog


async def drain(
    log: EmbeddedLog, group: str, count: int
) -> list[tuple[int, bytes, tuple[tuple[str, bytes], ...]]]:
    consumer = log.consumer(group, "in")
    await consumer.start()
    out: list[tuple[int, bytes, tuple[tuple[str, bytes], ...]]] = []
    while len(out) < count:
        batches = await consumer.fetch(300, 1.0)
        assert batches, f"only {len(out)} of {count} came back"
        for messages in batches.values():
            out.extend((m.offset, m.value, m.headers) for m in messages)
    await consumer.close()
    return out


async def test_what_the_tail_serves_equals_the_file(make_log: MakeLog) -> None:
    log = await make_log()
    count = TAIL_MESSAGES + 300  # the first 300 are no longer in the tail
    headers = (("ce_id", b"x"), ("raw", bytes(range(256))))
    await log.create_topic("in", 1)
    for start in range(0, count, 100):
        await log.append(
            "in", [Message("k", str(n).encode(), headers) for n in range(start, min(start + 100, count))]
        )
    view = log.view("in")
    assert view is not None
    assert len(view.tails[0]) == TAIL_MESSAGES
    assert view.from_tail(0, count - TAIL_MESSAGES - 1, 1) is None
    kept = view.from_tail(0, count - TAIL_MESSAGES, count)
    assert kept is not None
    assert [m.offset for m in kept] == list(range(count - TAIL_MESSAGES, count))
    from_memory_and_file = await drain(log, "g1", count)
    await log.close()
    reopened = await make_log()  # a new process: nothing in memory, everything from the file
    reopened_view = reopened.view("in")
    assert reopened_view is not None
    assert len(reopened_view.tails[0]) == 0
    from_file = await drain(reopened, "g2", count)
    assert from_memory_and_file == from_file
    assert [offset for offset, _, _ in from_file] == list(range(count))


async def test_the_tail_follows_each_partition(log: EmbeddedLog) -> None:
    await log.create_topic("in", 4)
    keys = [f"subject-{n}" for n in range(12)]
    await log.append("in", [Message(k, k.encode()) for k in keys])
    view = log.view("in")
    assert view is not None
    for partition in range(4):
        expected = [k.encode() for k in keys if partition_for(k, 4) == partition]
        tail = view.from_tail(partition, 0, len(keys)) if expected else []
        assert tail is not None
        assert [m.value for m in tail] == expected
        assert [m.offset for m in tail] == list(range(len(expected)))
        assert all(m.topic == "in" and m.partition == partition for m in tail)


async def test_a_consume_loop_fetch_fits_in_the_tails(make_log: MakeLog) -> None:
    """The loops fetch ``fetch_size`` at most: shared between the partitions, a fetch never asks
    one partition for more than half its tail, so a loop that fell behind catches up from memory."""
    for partitions in (1, 8, 64):
        log = await make_log(default_partitions=partitions)
        assert log.fetch_size >= 1000
        assert -(-log.fetch_size // partitions) <= max(TAIL_MESSAGES // 2, 1000)
        await log.close()
