"""kill -9 proof for the embedded log: what was acknowledged is there after restart, and a
consumer group resumes exactly at what it committed.

A child process (embedded_crash_child.py) works on the log and reports each durable step on stdout;
the test reads some of those reports, SIGKILLs the child mid-stream, reopens the file and checks.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from adapters.embedded import EmbeddedLog
from router.ports import Message, StoredMessage
from tests.support.paths import ROOT

CHILD = Path(__file__).with_name("embedded_crash_child.py")
KEYS = 20
BATCH = 50


class Child:
    """The child process, with its stdout read line by line on a thread (so waits can time out)."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def next_line(self) -> str:
        line = self.lines.get(timeout=60)
        if line is None:
            assert self.process.stderr is not None
            raise AssertionError(f"the child exited early: {self.process.stderr.read()}")
        return line

    def kill(self) -> list[str]:
        """SIGKILL, then the lines it had printed before dying."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)
        rest: list[str] = []
        while (line := self.lines.get(timeout=60)) is not None:
            rest.append(line)
        return rest


async def read_everything(path: Path) -> tuple[list[StoredMessage], dict[int, int], EmbeddedLog]:
    log = EmbeddedLog(path)
    await log.start()
    stored: list[StoredMessage] = []
    for partition, end in (await log.end_offsets("in")).items():
        stored.extend(await log.read("in", partition, 0, end + 1))
    return stored, await log.committed_offsets("g", "in"), log


@pytest.mark.parametrize("durability", ["fsync", "os"])
def test_acknowledged_appends_survive_kill_9(tmp_path: Path, durability: str) -> None:
    path = tmp_path / "log.db"
    child = Child("produce", str(path), durability)
    assert child.next_line() == "ready"
    acknowledged = -1
    for _ in range(30):
        acknowledged = int(child.next_line().split()[1])
    # Mid-stream: the child is appending its next batch while it dies.
    acknowledged = max([acknowledged] + [int(line.split()[1]) for line in child.kill()])

    async def check() -> None:
        stored, _, log = await read_everything(path)
        sequences = sorted(int(m.value) for m in stored)
        # Every acknowledged message is there, once; batches are all-or-nothing.
        assert sequences[: acknowledged + 1] == list(range(acknowledged + 1))
        assert sequences == list(range(len(sequences)))
        assert len(sequences) % BATCH == 0
        # Order per key: increasing sequence numbers in offset order.
        for key in (f"k{n}" for n in range(KEYS)):
            mine = sorted((m for m in stored if m.key == key), key=lambda m: m.offset)
            assert len({m.partition for m in mine}) == 1
            assert [int(m.value) for m in mine] == sorted(int(m.value) for m in mine)
        # Dedup ids survived too: republishing an acknowledged message is a duplicate.
        [again] = await log.append("in", [Message("k0", b"0", dedup_id="id-0")])
        assert again.duplicate
        await log.close()

    asyncio.run(check())


def test_consumer_resumes_at_its_commits_after_kill_9(tmp_path: Path) -> None:
    path = tmp_path / "log.db"

    async def fill() -> None:
        log = EmbeddedLog(path)
        await log.start()
        await log.create_topic("in", 4)
        for first in range(0, 3000, 100):
            await log.append(
                "in", [Message(f"k{n % KEYS}", str(n).encode()) for n in range(first, first + 100)]
            )
        await log.close()

    asyncio.run(fill())
    child = Child("consume", str(path))
    assert child.next_line() == "ready"
    lines: list[str] = []
    while sum(line.startswith("commit") for line in lines) < 10:
        lines.append(child.next_line())
    lines += child.kill()

    reported: dict[int, int] = {}
    fetched_up_to: dict[int, int] = {}
    for kind, partition, *numbers in (line.split() for line in lines):
        if kind == "commit":
            reported[int(partition)] = max(reported.get(int(partition), 0), int(numbers[0]))
        elif kind == "fetched":
            fetched_up_to[int(partition)] = max(fetched_up_to.get(int(partition), -1), int(numbers[1]))

    async def check() -> None:
        stored, committed, log = await read_everything(path)
        for partition, offset in reported.items():
            # A commit the child saw acknowledged is durable...
            assert committed[partition] >= offset
            # ...and the child always left fetched messages uncommitted (the second halves).
            assert committed[partition] <= fetched_up_to[partition]
        consumer = log.consumer("g", "in")
        await consumer.start()
        redelivered: list[StoredMessage] = []
        while batches := await consumer.fetch(500, 0.05):
            redelivered.extend(m for ms in batches.values() for m in ms)
        expected = [m for m in stored if m.offset >= committed.get(m.partition, 0)]
        # Exactly the uncommitted messages come again: none of the committed ones, all of the rest.
        assert sorted((m.partition, m.offset) for m in redelivered) == sorted(
            (m.partition, m.offset) for m in expected
        )
        # Among them, messages the dead child had fetched but not committed.
        assert any(m.offset <= fetched_up_to.get(m.partition, -1) for m in redelivered)
        await log.close()

    asyncio.run(check())
