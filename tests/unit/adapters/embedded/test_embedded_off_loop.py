"""The event loop never runs SQLite: every query, write and commit of the embedded log, its
consumers and its dead letters happens on the log's writer or reader thread.

How it is observed: ``sqlite3.connect`` is wrapped for the test so that every connection opened
in the process is a :class:`RecordingConnection`, which notes the thread it was opened on and the
thread of every execute, executemany, executescript, commit, rollback and close. Cursors and fetches are
not wrapped; they need not be: Python's sqlite3 refuses (ProgrammingError) any use of a connection,
or of its cursors, from a thread other than the one that opened it, and the wrapper asserts that
this check is left on. So SQLite work on the loop would either show as a connection opened on the
loop's thread, as a call recorded there, or fail the scenario outright.

Each step of the scenario must also have run SQLite somewhere (otherwise it proves nothing: a
fetch served from the in-memory tail, for one, touches no file; the scenario reopens the log so the
consumer reads the file). The last test runs the same scenario with the reader made synchronous,
to show the probe does catch SQLite on the loop.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from adapters.embedded import EmbeddedDeadLetters, EmbeddedLog
from adapters.embedded.reader import Reader
from router.ports import DeadLetterQuery, Message, NewDeadLetter

T = TypeVar("T")

TOPIC = "dossier.events"
GROUP = "deliver.portal"


@dataclass
class SqliteCalls:
    """The threads SQLite ran on, per step of the scenario (set by the test on the loop)."""

    step: str = "before the scenario"
    threads: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self) -> None:
        with self._lock:
            self.threads[self.step].add(threading.get_ident())


def recording_connect(calls: SqliteCalls) -> Callable[..., sqlite3.Connection]:
    """``sqlite3.connect`` whose connections record, in ``calls``, the threads they are used on."""
    real_connect = sqlite3.connect

    class RecordingConnection(sqlite3.Connection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            calls.note()
            super().__init__(*args, **kwargs)

        def execute(self, *args: Any) -> sqlite3.Cursor:
            calls.note()
            return super().execute(*args)

        def executemany(self, *args: Any) -> sqlite3.Cursor:
            calls.note()
            return super().executemany(*args)

        def executescript(self, *args: Any) -> sqlite3.Cursor:
            calls.note()
            return super().executescript(*args)

        def commit(self) -> None:
            calls.note()
            super().commit()

        def rollback(self) -> None:
            calls.note()
            super().rollback()

        def close(self) -> None:  # may checkpoint the write-ahead log into the file
            calls.note()
            super().close()

    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        # the same-thread check is what covers cursors and fetches (see the module's docstring)
        assert kwargs.get("check_same_thread", True), "a log connection usable from any thread"
        assert "factory" not in kwargs
        return real_connect(*args, factory=RecordingConnection, **kwargs)

    return connect


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> SqliteCalls:
    recorded = SqliteCalls()
    monkeypatch.setattr(sqlite3, "connect", recording_connect(recorded))
    return recorded


def dead_letter(event_id: str, message: Any) -> NewDeadLetter:
    return NewDeadLetter("portal", event_id, message.key, "budget_exhausted", 4, "HTTP 503", message)


async def run_scenario(tmp_path: Path, calls: SqliteCalls) -> None:
    """Every SQLite-backed operation of the log, one step each; each step is awaited to its end
    before the next begins, so a thread recorded under a step did that step's work."""

    async def step(name: str, operation: Callable[[], Any]) -> Any:
        calls.step = name
        try:
            return await operation()
        finally:
            calls.step = "between steps"

    path = tmp_path / "log.db"
    # no retention pass during the scenario: its work would land in whichever step is running
    first = EmbeddedLog(path, default_partitions=2, retention_interval_s=3600)
    await step("start", first.start)
    await step("create topic", lambda: first.create_topic(TOPIC, 2))
    messages = [Message(f"dossier-{n % 3}", b'{"n": %d}' % n, dedup_id=f"e{n}") for n in range(10)]
    placed = await step("append", lambda: first.append(TOPIC, messages))
    assert not any(result.duplicate for result in placed)
    again = await step("append a duplicate", lambda: first.append(TOPIC, messages[:2]))
    assert all(result.duplicate for result in again)
    await step("close", first.close)

    # reopened: the in-memory tails are empty, so the consumer's fetch has to read the file
    log = EmbeddedLog(path, default_partitions=2, retention_interval_s=3600)
    await step("start again", log.start)
    try:
        consumer = log.consumer(GROUP, TOPIC)
        await step("consumer start", consumer.start)
        fetched = await step("fetch", lambda: consumer.fetch(100, timeout=0))
        got = [message for batch in fetched.values() for message in batch]
        assert len(got) == len(messages)
        await step("commit", lambda: consumer.commit({0: consumer.position(0)}))
        assert await step("lag", lambda: log.lag(GROUP, TOPIC)) == len(fetched.get(1, ()))
        assert await step("committed offsets", lambda: log.committed_offsets(GROUP, TOPIC)) == {
            0: consumer.position(0)
        }
        assert await step("read", lambda: log.read(TOPIC, 1, 0, 100)) == list(fetched.get(1, ()))
        assert not await step("seen", lambda: log.seen(TOPIC, "never appended"))

        letters = EmbeddedDeadLetters(log)
        await step("dead letters add", lambda: letters.add([dead_letter("e0", got[0])]))
        [held] = await step("dead letters list", lambda: letters.list(DeadLetterQuery()))
        assert await step("dead letters count", lambda: letters.count("portal")) == 1
        assert await step("held subjects", lambda: letters.held_subjects("portal")) == {got[0].key}
        await step("mark replayed", lambda: letters.mark_replayed([held.id]))
        await step("purge", lambda: letters.purge([held.id]))
        assert await step("health", log.healthy)
    finally:
        await step("close again", log.close)


def on_thread(calls: SqliteCalls, thread: int) -> list[str]:
    return sorted(name for name, threads in calls.threads.items() if thread in threads)


STEPS = (
    "start",
    "create topic",
    "append",
    "append a duplicate",
    "close",
    "start again",
    "consumer start",
    "fetch",
    "commit",
    "lag",
    "committed offsets",
    "read",
    "seen",
    "dead letters add",
    "dead letters list",
    "dead letters count",
    "held subjects",
    "mark replayed",
    "purge",
    "health",
    "close again",
)


def assert_each_ran_sqlite(calls: SqliteCalls, steps: Iterable[str]) -> None:
    idle = [name for name in steps if not calls.threads.get(name)]
    assert not idle, f"these steps ran no SQLite, so they prove nothing: {idle}"


async def test_no_sqlite_work_runs_on_the_event_loop_thread(tmp_path: Path, calls: SqliteCalls) -> None:
    loop_thread = threading.get_ident()  # the test's coroutine runs on the loop's thread
    await run_scenario(tmp_path, calls)
    assert_each_ran_sqlite(calls, STEPS)
    assert on_thread(calls, loop_thread) == []
    # and it did run on the log's own threads: one writer, one reader per opened log
    used = set().union(*calls.threads.values())
    assert 2 <= len(used) <= 4


async def test_the_probe_catches_sqlite_run_on_the_loop(
    tmp_path: Path, calls: SqliteCalls, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader made synchronous, as a careless change could: its queries run on the loop, and
    the probe above reports exactly the steps that read."""

    async def run_on_the_caller(self: Reader, fn: Callable[[sqlite3.Connection], T]) -> T:
        return self._call(fn)

    async def close_on_the_caller(self: Reader) -> None:
        self._close_connection()

    monkeypatch.setattr(Reader, "run", run_on_the_caller)
    monkeypatch.setattr(Reader, "close", close_on_the_caller)
    loop_thread = threading.get_ident()
    await run_scenario(tmp_path, calls)
    assert_each_ran_sqlite(calls, STEPS)
    reads = {
        "consumer start",
        "fetch",
        "lag",
        "committed offsets",
        "read",
        "seen",
        "dead letters list",
        "dead letters count",
        "held subjects",
        "health",
    }
    # the first log never read, so only the second one's reader connection is closed (on the loop)
    assert set(on_thread(calls, loop_thread)) == reads | {"close again"}
