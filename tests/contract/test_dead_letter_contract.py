"""What every dead-letter store promises (router.ports.DeadLetterStore): add, list with filters,
replay marks, held subjects; checked on the embedded log's file and on the shared PostgreSQL
database (``dead_letters``, tests/contract/conftest.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from router.ports import DeadLetterQuery, NewDeadLetter, StoredMessage
from tests.contract.conftest import DeadLetterBackend


def letter(
    subscription: str = "portal", event_id: str = "e1", subject: str = "dossier-1", offset: int = 0
) -> NewDeadLetter:
    message = StoredMessage(
        topic="deliver.portal",
        partition=3,
        offset=offset,
        key=subject,
        value=b'{"status": 4}',
        headers=(("ce_id", event_id.encode()), ("bin", b"\xff\x00")),
        timestamp_ms=1_700_000_000_000,
    )
    return NewDeadLetter(subscription, event_id, subject, "budget_exhausted", 7, "HTTP 503", message)


async def test_add_then_list_round_trips_every_field(dead_letters: DeadLetterBackend) -> None:
    store = await dead_letters.open()
    before = int(time.time() * 1000)
    new = letter()
    await store.add([new])
    [stored] = await store.list(DeadLetterQuery())
    assert stored.id > 0
    assert (stored.subscription, stored.event_id, stored.subject) == ("portal", "e1", "dossier-1")
    assert (stored.reason, stored.attempts, stored.last_error) == ("budget_exhausted", 7, "HTTP 503")
    assert stored.failed_at_ms >= before
    assert stored.replayed_at_ms is None
    assert stored.message == new.message


async def test_adding_the_same_letter_twice_is_a_no_op(dead_letters: DeadLetterBackend) -> None:
    store = await dead_letters.open()
    await store.add([letter()])
    await store.add([letter(), letter()])
    assert await store.count("portal") == 1
    await store.add([letter(offset=1)])  # same event, another position: another letter
    await store.add([letter(subscription="warehouse")])
    assert await store.count("portal") == 2
    assert await store.count("warehouse") == 1
    await store.add([])


async def test_list_filters_and_paginates(dead_letters: DeadLetterBackend) -> None:
    store = await dead_letters.open()
    await store.add([letter(event_id=f"e{n}", subject=f"s{n % 3}", offset=n) for n in range(10)])
    await store.add([letter(subscription="other", event_id="x")])
    everything = await store.list(DeadLetterQuery(limit=100))
    assert len(everything) == 11
    assert [d.id for d in everything] == sorted(d.id for d in everything)

    portal = await store.list(DeadLetterQuery(subscription="portal"))
    assert [d.event_id for d in portal] == [f"e{n}" for n in range(10)]
    assert [d.event_id for d in await store.list(DeadLetterQuery(subscription="portal", subject="s1"))] == [
        "e1",
        "e4",
        "e7",
    ]
    picked = await store.list(DeadLetterQuery(ids=(portal[2].id, portal[5].id, 999_999)))
    assert [d.event_id for d in picked] == ["e2", "e5"]

    pages: list[str] = []
    after = 0
    while page := await store.list(DeadLetterQuery(subscription="portal", after_id=after, limit=4)):
        assert len(page) <= 4
        pages.extend(d.event_id for d in page)
        after = page[-1].id
    assert pages == [f"e{n}" for n in range(10)]
    assert await store.list(DeadLetterQuery(limit=0)) == []


async def test_replayed_letters_are_hidden_unless_asked_for(dead_letters: DeadLetterBackend) -> None:
    store = await dead_letters.open()
    await store.add([letter(event_id=f"e{n}", subject=f"s{n}", offset=n) for n in range(3)])
    first, second, _ = await store.list(DeadLetterQuery())
    await store.mark_replayed([first.id, second.id])
    assert [d.event_id for d in await store.list(DeadLetterQuery())] == ["e2"]
    shown = await store.list(DeadLetterQuery(include_replayed=True))
    assert [d.event_id for d in shown] == ["e0", "e1", "e2"]
    assert shown[0].replayed_at_ms is not None
    assert shown[2].replayed_at_ms is None
    # Marking again keeps the first replay time.
    await store.mark_replayed([first.id])
    again = await store.list(DeadLetterQuery(include_replayed=True, ids=(first.id,)))
    assert again[0].replayed_at_ms == shown[0].replayed_at_ms
    await store.mark_replayed([])


async def test_held_subjects_and_count_ignore_replayed_letters(dead_letters: DeadLetterBackend) -> None:
    store = await dead_letters.open()
    assert await store.held_subjects("portal") == frozenset()
    assert await store.count("portal") == 0
    await store.add([letter(event_id="a", subject="s1"), letter(event_id="b", subject="s1", offset=1)])
    await store.add([letter(event_id="c", subject="s2", offset=2), letter("other", "d", "s9")])
    assert await store.held_subjects("portal") == frozenset({"s1", "s2"})
    assert await store.count("portal") == 3
    s2 = await store.list(DeadLetterQuery(subscription="portal", subject="s2"))
    await store.mark_replayed([d.id for d in s2])
    assert await store.held_subjects("portal") == frozenset({"s1"})
    assert await store.count("portal") == 2


async def test_letters_survive_reopen_and_ids_are_not_reused(dead_letters: DeadLetterBackend) -> None:
    store = await dead_letters.open()
    await store.add([letter(event_id="a"), letter(event_id="b", offset=1)])
    ids = [d.id for d in await store.list(DeadLetterQuery())]
    await dead_letters.close_all()
    store = await dead_letters.open()
    assert [d.id for d in await store.list(DeadLetterQuery())] == ids
    await store.add([letter(event_id="c", offset=2)])
    [newest] = await store.list(DeadLetterQuery(after_id=ids[-1]))
    assert newest.id > max(ids)


async def test_a_purge_that_empties_a_subject_ends_its_hold_for_every_process(
    dead_letters: DeadLetterBackend,
) -> None:
    holder = await dead_letters.open()
    # another process of the bus on the shared database; the embedded log has one process
    other = await dead_letters.open() if dead_letters.kind == "postgres" else holder
    await holder.add([letter(event_id="a", subject="s1"), letter(event_id="b", subject="s1", offset=1)])
    await holder.add([letter(event_id="c", subject="s2", offset=2), letter("other", "d", "s1", offset=3)])
    assert await holder.purged_holds("portal", ["s1", "s2"]) == frozenset()
    first, second = await other.list(DeadLetterQuery(subscription="portal", subject="s1"))
    await other.purge([first.id])  # one letter of s1 left: still held
    assert await holder.purged_holds("portal", ["s1", "s2"]) == frozenset()
    await other.purge([second.id])
    assert await holder.purged_holds("portal", ["s1", "s2", "s9"]) == frozenset({"s1"})
    # per subscription: the other subscription's letter of s1 is still there, and held
    assert await holder.purged_holds("other", ["s1"]) == frozenset()
    assert await holder.held_subjects("other") == frozenset({"s1"})
    assert await holder.purged_holds("portal", []) == frozenset()


async def test_a_replay_ends_no_hold_through_the_store(dead_letters: DeadLetterBackend) -> None:
    store = await dead_letters.open()
    await store.add([letter(event_id="a", subject="s1"), letter(event_id="b", subject="s2", offset=1)])
    s1, s2 = await store.list(DeadLetterQuery())
    # replayed: the copies lift the hold in queue order, not the store
    await store.mark_replayed([s1.id, s2.id])
    assert await store.purged_holds("portal", ["s1", "s2"]) == frozenset()
    # a purge of a replayed letter while another is not replayed yet ends nothing either
    await store.add([letter(event_id="c", subject="s1", offset=2)])
    await store.purge([s1.id])
    assert await store.purged_holds("portal", ["s1"]) == frozenset()


async def test_a_purge_leaving_a_replayed_letter_leaves_the_hold_to_its_copy(
    dead_letters: DeadLetterBackend,
) -> None:
    store = await dead_letters.open()
    await store.add([letter(event_id="a", subject="s1"), letter(event_id="b", subject="s1", offset=1)])
    replayed, failed = await store.list(DeadLetterQuery())
    await store.mark_replayed([replayed.id])
    await store.purge([failed.id])
    # the copy of the replayed letter may still be on its way: it lifts the hold, in queue order
    assert await store.purged_holds("portal", ["s1"]) == frozenset()
    await store.purge([replayed.id])
    assert await store.purged_holds("portal", ["s1"]) == frozenset({"s1"})


async def test_a_letter_after_the_purge_holds_the_subject_again(dead_letters: DeadLetterBackend) -> None:
    store = await dead_letters.open()
    await store.add([letter(event_id="a", subject="s1")])
    [first] = await store.list(DeadLetterQuery())
    await store.purge([first.id])
    assert await store.purged_holds("portal", ["s1"]) == frozenset({"s1"})
    # the subject fails again: held, and still held once that letter is replayed (its copy lifts it)
    await store.add([letter(event_id="b", subject="s1", offset=1)])
    assert await store.purged_holds("portal", ["s1"]) == frozenset()
    [second] = await store.list(DeadLetterQuery())
    await store.mark_replayed([second.id])
    assert await store.purged_holds("portal", ["s1"]) == frozenset()
    # purged in its turn: released again, also after a restart
    await store.purge([second.id])
    await dead_letters.close_all()
    store = await dead_letters.open()
    assert await store.purged_holds("portal", ["s1"]) == frozenset({"s1"})


async def test_a_new_letter_of_a_purged_subject_deletes_its_purge_record(
    dead_letters: DeadLetterBackend,
) -> None:
    store = await dead_letters.open()
    await store.add([letter(event_id="a", subject="s1"), letter(event_id="b", subject="s2", offset=1)])
    await store.purge([d.id for d in await store.list(DeadLetterQuery())])
    assert await dead_letters.purge_records() == [("portal", "s1"), ("portal", "s2")]
    await store.add([letter(event_id="c", subject="s1", offset=2)])
    assert await dead_letters.purge_records() == [("portal", "s2")]
    assert await store.purged_holds("portal", ["s1", "s2"]) == frozenset({"s2"})


@pytest.fixture
async def shared(tmp_path: Path) -> AsyncIterator[DeadLetterBackend]:
    """The shared database only: these tests are about processes writing it at once."""
    opened = DeadLetterBackend("postgres", tmp_path)
    yield opened
    await opened.close_all()


@pytest.mark.postgres
async def test_concurrent_purges_of_a_subjects_letters_end_its_hold(shared: DeadLetterBackend) -> None:
    """Two purges at once, each of one of a subject's two letters: the second to commit sees the
    first's delete, and ends the hold."""
    holder, one, two = [await shared.open() for _ in range(3)]
    await holder.add([letter(event_id="a", subject="s1"), letter(event_id="b", subject="s1", offset=1)])
    first, second = await holder.list(DeadLetterQuery())
    blocker = await asyncpg.connect(shared.dsn)
    try:
        # the second letter's row is locked: the purge of it waits in its delete
        pause = blocker.transaction()
        await pause.start()
        await blocker.execute("SELECT 1 FROM dead_letters WHERE id = $1 FOR UPDATE", second.id)
        later = asyncio.create_task(two.purge([second.id]))
        await _until(lambda: _waiting(blocker, 1))
        # the other purge runs meanwhile: it commits (no lock of the subject) or waits for the first
        sooner = asyncio.create_task(one.purge([first.id]))
        await _until(lambda: _finished(sooner, blocker))
        await pause.rollback()
        await asyncio.gather(later, sooner)
    finally:
        await blocker.close()
    assert await holder.list(DeadLetterQuery(include_replayed=True)) == []
    assert await holder.purged_holds("portal", ["s1"]) == frozenset({"s1"})


@pytest.mark.postgres
async def test_a_letter_committed_after_a_purge_keeps_its_subject_held(
    shared: DeadLetterBackend,
) -> None:
    """A letter whose id was drawn before a purge's, committed after it (and replayed at once):
    the subject failed again, and its hold is not the purge's to end."""
    store = await shared.open()
    await store.add([letter(event_id="a", subject="s1")])
    [purged] = await store.list(DeadLetterQuery())
    writer = await asyncpg.connect(shared.dsn)
    try:
        async with writer.transaction():
            await writer.execute(
                "INSERT INTO dead_letters (subscription, event_id, subject, reason, attempts, last_error,"
                " failed_at_ms, topic, partition_no, offset_no, msg_key, msg_value, msg_headers, msg_ts)"
                " VALUES ('portal', 'b', 's1', 'budget_exhausted', 1, 'x', 0, 't', 0, 1, 's1', '', '', 0)"
            )
            await store.add([letter(event_id="c", subject="s2", offset=2)])  # a higher id, committed
            await store.purge([purged.id])
    finally:
        await writer.close()
    [late] = await store.list(DeadLetterQuery(subject="s1"))
    assert late.id < max(d.id for d in await store.list(DeadLetterQuery()))
    await store.mark_replayed([late.id])
    assert await store.purged_holds("portal", ["s1"]) == frozenset()


async def _until(condition: Callable[[], Awaitable[bool]]) -> None:
    """Waits for a state of the database (no time in it: the test's own timeout bounds it)."""
    while not await condition():
        await asyncio.sleep(0.01)


async def _waiting(conn: asyncpg.Connection, count: int) -> bool:
    waiting = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    return bool(waiting >= count)


async def _finished(task: asyncio.Task[None], conn: asyncpg.Connection) -> bool:
    return task.done() or await _waiting(conn, 2)
