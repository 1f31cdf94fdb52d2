"""Starting, closing, health, and one process per file."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from adapters.embedded import EmbeddedLog
from router.ports import Message, TransportError

MakeLog = Callable[..., Awaitable[EmbeddedLog]]


async def test_healthy_while_open_and_not_after_close(log: EmbeddedLog) -> None:
    assert await log.healthy()
    await log.close()
    assert not await log.healthy()


async def test_not_started_log_refuses_work(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path / "log.db")
    assert not await log.healthy()
    with pytest.raises(TransportError, match="not started"):
        await log.append("in", [Message("k", b"v")])
    await log.close()


async def test_closed_log_refuses_work(log: EmbeddedLog) -> None:
    await log.append("in", [Message("k", b"v")])
    await log.close()
    await log.close()  # twice is fine
    with pytest.raises(TransportError, match="closed"):
        await log.append("in", [Message("k", b"v")])
    with pytest.raises(TransportError, match="closed"):
        await log.create_topic("other", 1)
    with pytest.raises(TransportError, match="closed"):
        await log.lag("g", "in")
    with pytest.raises(TransportError, match="closed"):
        await log.start()


async def test_close_commits_what_was_queued(make_log: MakeLog) -> None:
    log = await make_log()
    await log.create_topic("in", 8)
    appends = [asyncio.create_task(log.append("in", [Message(f"k{n}", b"v")])) for n in range(50)]
    await asyncio.sleep(0)  # every task has queued its append
    await log.close()
    results = await asyncio.gather(*appends)
    assert all(not result.duplicate for [result] in results)
    log = await make_log()
    assert sum((await log.end_offsets("in")).values()) == 50


async def test_a_second_log_on_the_same_file_is_refused(log: EmbeddedLog) -> None:
    other = EmbeddedLog(log.path)
    with pytest.raises(TransportError, match="in use by another process"):
        await other.start()
    await log.close()
    await other.start()  # free again once the first one is closed
    await other.close()


async def test_unopenable_path_is_a_transport_error(tmp_path: Path) -> None:
    log = EmbeddedLog(tmp_path / "missing-dir" / "log.db")
    with pytest.raises(TransportError):
        await log.start()


async def test_not_a_database_is_a_transport_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not an SQLite file" * 100)
    log = EmbeddedLog(path)
    with pytest.raises(TransportError):
        await log.start()
    # The failed start released the lock.
    path.unlink()
    retry = EmbeddedLog(path)
    await retry.start()
    await retry.close()


@pytest.mark.parametrize("durability", ["fsync", "os"])
async def test_both_durability_levels_persist_across_reopen(make_log: MakeLog, durability: str) -> None:
    log = await make_log(durability=durability)
    await log.append("in", [Message("k", b"v", dedup_id="x")])
    await log.close()
    log = await make_log(durability=durability)
    assert sum((await log.end_offsets("in")).values()) == 1


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="durability"):
        EmbeddedLog(tmp_path / "x.db", durability="never")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="partitions"):
        EmbeddedLog(tmp_path / "x.db", default_partitions=0)
    with pytest.raises(ValueError, match="positive"):
        EmbeddedLog(tmp_path / "x.db", retention_s=0)


class WriterKiller(BaseException):
    """Not an Exception: the writer cannot treat it as one caller's error."""


async def test_a_dead_writer_fails_callers_instead_of_hanging(log: EmbeddedLog) -> None:
    def kill(txn: object) -> None:
        raise WriterKiller

    outcomes = await asyncio.gather(
        log.run_in_writer(kill), log.append("in", [Message("k", b"v")]), return_exceptions=True
    )
    assert all(isinstance(outcome, TransportError) for outcome in outcomes)
    assert not await log.healthy()
    with pytest.raises(TransportError, match="stopped"):
        await log.append("in", [Message("k", b"v")])
    await log.close()
