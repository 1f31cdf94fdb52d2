"""The consume loop over the real embedded log: commit only what was handled."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

from adapters.embedded import EmbeddedLog
from router.consuming import ConsumeLoop
from router.ports import Message, StoredMessage


async def fill(log: EmbeddedLog, count: int) -> None:
    await log.create_topic("t", 2)
    await log.append("t", [Message(key=f"k{i % 3}", value=str(i).encode()) for i in range(count)])


async def test_commits_what_was_handled_and_redelivers_after_a_failure(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path / "log.db", durability="os")
    await log.start()
    await fill(log, 30)
    seen: list[bytes] = []
    fail_once = {"armed": True}

    async def handler(batches: Mapping[int, Sequence[StoredMessage]]) -> None:
        if fail_once["armed"]:
            fail_once["armed"] = False
            raise RuntimeError("sink exploded")
        for messages in batches.values():
            seen.extend(m.value for m in messages)

    consumer = log.consumer("g", "t")
    await consumer.start()
    loop = ConsumeLoop("test", consumer, handler, max_messages=7, poll_timeout_s=0.05, error_pause_s=0.01)
    task = asyncio.create_task(loop.run())
    for _ in range(200):
        if len(seen) >= 30:
            break
        await asyncio.sleep(0.01)
    loop.stop()
    await task
    assert sorted(seen, key=int) == [str(i).encode() for i in range(30)]  # the failed batch came again
    assert loop.failures == 1
    assert await log.lag("g", "t") == 0  # everything handled was committed, the last commit too
    await consumer.close()
    await log.close()


async def test_a_stop_during_handling_commits_nothing_of_that_batch(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path / "log.db", durability="os")
    await log.start()
    await fill(log, 10)
    started = asyncio.Event()

    async def handler(batches: Mapping[int, Sequence[StoredMessage]]) -> None:
        started.set()
        await asyncio.sleep(60)

    consumer = log.consumer("g", "t")
    await consumer.start()
    loop = ConsumeLoop("test", consumer, handler, poll_timeout_s=0.05)
    task = asyncio.create_task(loop.run())
    await started.wait()
    loop.stop()
    task.cancel()  # the drain bound ran out
    await asyncio.gather(task, return_exceptions=True)
    assert await log.lag("g", "t") == 10
    await consumer.close()
    await log.close()


async def test_a_loop_whose_handler_commits_itself_commits_nothing(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path / "log.db", durability="os")
    await log.start()
    await fill(log, 10)
    seen: list[bytes] = []
    handled = asyncio.Event()

    async def handler(batches: Mapping[int, Sequence[StoredMessage]]) -> None:
        seen.extend(m.value for messages in batches.values() for m in messages)
        if len(seen) >= 10:
            handled.set()

    consumer = log.consumer("g", "t")
    await consumer.start()
    loop = ConsumeLoop("test", consumer, handler, poll_timeout_s=0.05, commits=False)
    task = asyncio.create_task(loop.run())
    await asyncio.wait_for(handled.wait(), 30)
    loop.stop()
    await task
    assert await log.lag("g", "t") == 10  # the offsets are the handler's to commit (transactional routing)
    await consumer.close()
    await log.close()
