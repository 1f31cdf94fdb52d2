"""The SQLite audit store on real files: durable chained records, reads, and real failures."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from adapters.audit import SqliteAuditLog, verify_file
from adapters.audit.chain import GENESIS, as_text, link_v1
from router.audit import AuditUnavailable, admin_action
from router.errors import ConfigError
from tests.unit.adapters.audit.conftest import CITIZEN, KEY, OTHER, MakeStore, access, metric, ring_of

RECORDS = "lienthong_audit_records_total"
FAILURES = "lienthong_audit_write_failures_total"


async def test_records_are_chained_numbered_and_found_by_subject(
    store: SqliteAuditLog, registry: CollectorRegistry
) -> None:
    await store.record([access(1), access(2, subject=OTHER)])
    await store.record([access(3)])
    mine = await store.for_subject(CITIZEN)
    assert [r.request_id for r in mine] == ["req-3", "req-1"]  # newest first
    assert mine[1].previous_hash == GENESIS and mine[1].seq == 1
    assert mine[0].subject_hash != CITIZEN and len(mine[0].subject_hash) == 64
    assert [r.seq for r in await store.latest()] == [3, 2, 1]
    assert await store.verify() == []
    assert metric(registry, RECORDS) == 3
    assert store.head.seq == 3


async def test_a_tax_code_is_found_however_it_is_written(store: SqliteAuditLog) -> None:
    await store.record([access(1, subject="0100109106-001")])
    assert [r.request_id for r in await store.for_subject("0100109106001")] == ["req-1"]


async def test_pages_go_back_by_number(store: SqliteAuditLog) -> None:
    await store.record([access(n) for n in range(1, 8)])
    first = await store.for_subject(CITIZEN, limit=3)
    assert [r.seq for r in first] == [7, 6, 5]
    second = await store.for_subject(CITIZEN, limit=3, before=first[-1].seq)
    assert [r.seq for r in second] == [4, 3, 2]
    assert [r.seq for r in await store.latest(2, before=2)] == [1]


async def test_concurrent_records_are_committed_together_in_one_unbroken_chain(store: SqliteAuditLog) -> None:
    await asyncio.gather(*(store.record([access(n), access(n)]) for n in range(200)))
    assert store.head.seq == 400
    assert await store.verify() == []
    # each caller's records are adjacent and in order
    rows = sorted(await store.latest(400), key=lambda r: r.seq)
    assert all(rows[i].request_id == rows[i + 1].request_id for i in range(0, 400, 2))


async def test_the_chain_continues_after_a_restart(make_store: MakeStore) -> None:
    store = await make_store()
    await store.record([access(1)])
    await store.close()
    store = await make_store()
    await store.record([access(2)])
    assert [r.seq for r in await store.for_subject(CITIZEN)] == [2, 1]
    assert await store.verify() == []


async def test_admin_actions_are_chained_without_a_subject(store: SqliteAuditLog) -> None:
    await store.record([admin_action("req-9", "000.00.00.H49/vanhanh", "", "replay", "done", "portal: 3")])
    [stored] = await store.latest()
    assert (stored.dataset, stored.subject_hash, stored.purpose) == ("admin.replay", "", "portal: 3")
    assert await store.for_subject("") == []
    assert await store.verify() == []


async def test_the_log_refuses_another_key(make_store: MakeStore) -> None:
    store = await make_store()
    await store.record([access(1)])
    await store.close()
    with pytest.raises(ConfigError, match="written with another subject key"):
        await make_store(key=b"another key, also thirty-two bytes long")


async def test_one_process_per_file(store: SqliteAuditLog) -> None:
    with pytest.raises(AuditUnavailable, match="in use by another process"):
        await SqliteAuditLog(store.path, KEY).start()


async def test_a_closed_store_refuses_records(store: SqliteAuditLog, registry: CollectorRegistry) -> None:
    await store.close()
    with pytest.raises(AuditUnavailable, match="not open"):
        await store.record([access(1)])
    assert metric(registry, FAILURES) == 1
    assert not await store.healthy()


async def test_close_writes_what_was_handed_over(make_store: MakeStore, tmp_path: Path) -> None:
    store = await make_store()
    writes = [asyncio.create_task(store.record([access(n)])) for n in range(20)]
    await asyncio.sleep(0)
    await store.close()
    await asyncio.gather(*writes)
    assert verify_file(tmp_path / "audit.db", keys=ring_of(tmp_path / "audit.db")).records == 20


async def test_a_file_that_is_a_directory_cannot_be_opened(tmp_path: Path) -> None:
    (tmp_path / "audit.db").mkdir()
    store = SqliteAuditLog(tmp_path / "audit.db", KEY)
    with pytest.raises(AuditUnavailable, match="cannot open the audit log"):
        await store.start()
    assert not await store.healthy()


async def test_a_database_locked_past_the_bound_withholds_then_recovers(
    make_store: MakeStore, tmp_path: Path, registry: CollectorRegistry
) -> None:
    store = await make_store(busy_timeout_s=0.05)
    await store.record([access(1)])
    assert await store.healthy()
    # Another program holds the write lock of the file (as a stuck backup tool would).
    intruder = sqlite3.connect(tmp_path / "audit.db", isolation_level=None)
    intruder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(AuditUnavailable, match="could not be written"):
            await store.record([access(2)])
        assert metric(registry, FAILURES) == 1
        assert not await store.healthy()
    finally:
        intruder.execute("ROLLBACK")
        intruder.close()
    assert await store.healthy()  # the probe write goes through again
    await store.record([access(3)])
    assert [r.request_id for r in await store.for_subject(CITIZEN)] == ["req-3", "req-1"]
    assert await store.verify() == []


async def test_a_record_that_is_not_text_fails_only_its_caller(store: SqliteAuditLog) -> None:
    bad = access(1)
    object.__setattr__(bad, "official", "\ud800")  # a lone surrogate cannot be stored
    results = await asyncio.gather(store.record([bad]), store.record([access(2)]), return_exceptions=True)
    assert isinstance(results[0], AuditUnavailable) and results[1] is None
    assert [r.request_id for r in await store.latest()] == ["req-2"]


async def test_a_caller_waits_no_longer_than_the_write_timeout(
    make_store: MakeStore, tmp_path: Path, registry: CollectorRegistry
) -> None:
    store = await make_store(busy_timeout_s=30.0, write_timeout_s=0.1)
    intruder = sqlite3.connect(tmp_path / "audit.db", isolation_level=None)
    intruder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(AuditUnavailable, match=r"did not take the record within 0\.1 s"):
            await store.record([access(1)])
        assert metric(registry, FAILURES) == 1
        assert not await store.healthy()  # the probe waits behind the stuck write
    finally:
        intruder.execute("ROLLBACK")
        intruder.close()
    # once the lock is gone the stuck write goes through (SQLite's busy handler retries it; each
    # probe waits 0.1 s at most, so probe until it is through): a record of an access whose data
    # was withheld, the safe side to err on
    for _ in range(300):
        if await store.healthy():
            break
    else:
        pytest.fail("the store did not recover")
    assert [r.request_id for r in await store.latest()] == ["req-1"]


async def test_a_subject_that_is_not_text_fails_only_its_caller(store: SqliteAuditLog) -> None:
    for subject in ("001099\udc00", None):
        bad = access(1)
        object.__setattr__(bad, "subject", subject)
        with pytest.raises(AuditUnavailable, match="not"):
            await store.record([bad])
    assert await store.latest() == []


def format_1_log(path: Path, count: int) -> None:
    """A log as the store wrote it before keys: format 1, plain SHA-256 links, no key_id column."""
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE access_records (seq INTEGER PRIMARY KEY, at_us INTEGER NOT NULL,"
        " request_id TEXT NOT NULL, requester TEXT NOT NULL, official TEXT NOT NULL, dataset TEXT NOT NULL,"
        " subject_hash TEXT NOT NULL, purpose TEXT NOT NULL, procedure TEXT NOT NULL, dossier TEXT NOT NULL,"
        " outcome TEXT NOT NULL, provider TEXT NOT NULL, cache_hit INTEGER NOT NULL,"
        " previous_hash TEXT NOT NULL, hash TEXT NOT NULL);"
        " CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
        " PRAGMA user_version = 1;"
    )
    previous = GENESIS
    with conn:
        for seq in range(1, count + 1):
            texts = [f"req-{seq}", "A/sys", "cb", "d", "h", "p", "1.000894", "x", "released", "prov"]
            digest = link_v1(as_text(seq, texts, False), previous)
            conn.execute(
                "INSERT INTO access_records VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, seq, *texts, 0, previous, digest),
            )
            previous = digest
    conn.close()


async def test_a_log_of_format_1_is_verified_but_never_extended(tmp_path: Path) -> None:
    path = tmp_path / "audit.db"
    format_1_log(path, 3)
    result = verify_file(path)
    assert (result.format, result.records, result.intact) == (1, 3, True)
    store = SqliteAuditLog(path, KEY)
    with pytest.raises(AuditUnavailable, match=r"is of format 1, a plain SHA-256 chain .* Move it aside"):
        await store.start()
    assert verify_file(path).records == 3  # untouched
