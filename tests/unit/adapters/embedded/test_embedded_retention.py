"""Retention: old messages go, positions and offsets stay valid, dedup ids expire with them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from adapters.embedded import EmbeddedLog
from adapters.embedded.codec import partition_for
from router.ports import AppendResult, Message

MakeLog = Callable[..., Awaitable[EmbeddedLog]]

HOUR_AGO_MS = int(time.time() * 1000) - 3_600_000


async def until(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Waits for the retention task to do its work (a generous deadline, not a timing claim)."""
    for _ in range(2000):
        if await condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_expired_messages_are_deleted_from_the_head(make_log: MakeLog) -> None:
    log = await make_log(retention_s=60, retention_interval_s=0.02)
    partition = partition_for("k", 8)
    old = [Message("k", f"old{n}".encode(), timestamp_ms=HOUR_AGO_MS, dedup_id=f"old{n}") for n in range(5)]
    new = [Message("k", f"new{n}".encode(), dedup_id=f"new{n}") for n in range(3)]
    await log.append("in", old + new)

    async def trimmed() -> bool:
        return (await log.start_offsets("in"))[partition] == 5

    await until(trimmed, "the old messages to expire")
    assert [m.value for m in await log.read("in", partition, 0, 100)] == [b"new0", b"new1", b"new2"]
    assert (await log.end_offsets("in"))[partition] == 8
    # Offsets are not reused; expired dedup ids are forgotten, retained ones are not.
    results = await log.append(
        "in", [Message("k", b"again", dedup_id="old0"), Message("k", b"x", dedup_id="new0")]
    )
    assert results == [AppendResult(partition, 8), AppendResult(partition, 5, duplicate=True)]


async def test_positions_before_the_retained_head_move_to_it(make_log: MakeLog) -> None:
    log = await make_log(retention_s=60, retention_interval_s=0.02)
    partition = partition_for("k", 8)
    consumer = log.consumer("g", "in")
    await consumer.start()
    await consumer.commit({partition: 1})
    await log.append("in", [Message("k", b"old", timestamp_ms=HOUR_AGO_MS)] * 4 + [Message("k", b"new")])

    async def trimmed() -> bool:
        return (await log.start_offsets("in"))[partition] == 4

    await until(trimmed, "the old messages to expire")
    [message] = [m for ms in (await consumer.fetch(10, 0)).values() for m in ms]
    assert (message.offset, message.value) == (4, b"new")
    await consumer.rewind([partition])
    assert consumer.position(partition) == 4  # the batch fetched: the first retained offset
    assert await log.lag("g", "in") == 1


async def test_emptied_partitions_do_not_reuse_offsets_after_reopen(
    make_log: MakeLog, tmp_path: Path
) -> None:
    path = tmp_path / "emptied.db"
    log = await make_log(path, retention_s=60, retention_interval_s=0.02)
    partition = partition_for("k", 8)
    await log.append("in", [Message("k", b"old", timestamp_ms=HOUR_AGO_MS, dedup_id="d")] * 3)

    async def emptied() -> bool:
        return (await log.start_offsets("in"))[partition] == 1

    await until(emptied, "the partition to be emptied")
    assert await log.read("in", partition, 0, 10) == []
    await log.close()

    log = await make_log(path)
    assert (await log.start_offsets("in"))[partition] == 1
    assert (await log.end_offsets("in"))[partition] == 1
    assert await log.append("in", [Message("k", b"fresh", dedup_id="d")]) == [AppendResult(partition, 1)]


async def test_dedup_window_is_the_retention_window(make_log: MakeLog) -> None:
    log = await make_log(retention_s=0.2, retention_interval_s=0.02)
    [first] = await log.append("in", [Message("k", b"v", dedup_id="event-1")])
    [again] = await log.append("in", [Message("k", b"v", dedup_id="event-1")])
    assert again.duplicate
    assert first.offset is not None
    offset = first.offset

    async def expired() -> bool:
        return (await log.start_offsets("in"))[first.partition] > offset

    await until(expired, "the message to leave the window")
    [later] = await log.append("in", [Message("k", b"v", dedup_id="event-1")])
    assert later == AppendResult(first.partition, offset + 1)


async def test_retention_works_in_bounded_chunks_while_appends_go_on(make_log: MakeLog) -> None:
    log = await make_log(retention_s=60, retention_interval_s=0.02, retention_chunk=7)
    await log.append("in", [Message(f"k{n}", b"old", timestamp_ms=HOUR_AGO_MS) for n in range(200)])
    ends_before = await log.end_offsets("in")

    async def all_gone() -> bool:
        await log.append("in", [Message("k0", b"new")])
        starts = await log.start_offsets("in")
        return all(starts[p] >= ends_before[p] for p in starts)

    await until(all_gone, "every old message to expire")
    values = [m.value for p in range(8) for m in await log.read("in", p, 0, 10_000)]
    assert set(values) == {b"new"}
