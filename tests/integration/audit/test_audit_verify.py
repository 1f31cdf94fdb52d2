"""Tampering with the audit log is found by ``lienthong audit verify``, run as an operator runs it
(a real process, its exit code and output), on records written by the real store and changed
with sqlite3 directly in the file.

The forgers of these tests hold the chain key (an insider on the bus's host): what they change is
found by the chain's links and the witnessed checkpoint. Forgers without the key are in
test_audit_keyed.py."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from pathlib import Path

import pytest

from adapters.audit import SqliteAuditLog
from adapters.audit.keys import chain_key_source
from router.audit import AccessRecord
from tests.support.bus import BusConfig
from tests.support.cli import lienthong

KEY = b"integration test key, thirty-two bytes or more"
RECORDS = 12


def write_records(path: Path, count: int = RECORDS) -> None:
    async def write() -> None:
        store = SqliteAuditLog(path, KEY)
        await store.start()
        try:
            for n in range(1, count + 1):
                await store.record(
                    [
                        AccessRecord(
                            request_id=f"req-{n}",
                            requester="000.00.00.H46/motcua",
                            official="canbo.01",
                            dataset="citizen.identity",
                            subject=f"0010990123{n:02d}",
                            purpose="dossier_processing",
                            procedure="1.002861",
                            dossier="000.00.00.H46-261127-0001",
                            outcome="released",
                            provider="population",
                        )
                    ]
                )
        finally:
            await store.close()

    asyncio.run(write())


@pytest.fixture
def audit_db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"
    write_records(path)
    return path


def record_hash(path: Path, fields: list[str], previous: str) -> str:
    """The link an insider holding the chain key (in the key file beside the log) computes."""
    return chain_key_source(path, "NO_SUCH_VARIABLE", "NO_SUCH_VARIABLE", environ={})().link(fields, previous)


FIELDS = (
    "at_us, request_id, requester, official, dataset, subject_hash, purpose, procedure, dossier,"
    " outcome, provider, cache_hit, key_id"
)


def change(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def verify(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return lienthong("audit", "verify", "--file", str(path), *args)


def test_an_untouched_log_verifies_through_its_configuration(tmp_path: Path) -> None:
    config = BusConfig(tmp_path, sections={"audit": {"path": "var/audit.db"}})
    path = config.write()
    write_records(tmp_path / "var" / "audit.db")
    result = lienthong("audit", "verify", "--config", str(path))
    assert result.returncode == 0, result.stderr
    assert f"{RECORDS} records, chain intact; head {RECORDS}:" in result.stdout


def test_a_changed_record_is_named(audit_db: Path) -> None:
    change(audit_db, "UPDATE access_records SET requester = '000.00.00.H56/motcua' WHERE seq = 5")
    result = verify(audit_db)
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith("record 5: record 5 (")
    assert "request req-5" in result.stdout and "was changed" in result.stdout
    assert "the chain is broken (1 problem in 12 records)" in result.stderr


def test_a_changed_record_with_a_recomputed_hash_is_found_by_the_next(audit_db: Path) -> None:
    # the forger recomputes record 5's hash: record 6 no longer follows it
    conn = sqlite3.connect(audit_db)
    columns = conn.execute(f"SELECT {FIELDS}, previous_hash FROM access_records WHERE seq = 5").fetchone()
    fields = [str(c) for c in columns[:-1]]
    fields[9] = "not_found"
    with conn:
        conn.execute(
            "UPDATE access_records SET outcome = 'not_found', hash = ? WHERE seq = 5",
            (record_hash(audit_db, fields, columns[-1]),),
        )
    conn.close()
    result = verify(audit_db)
    assert result.returncode == 1
    assert "record 6: record 6 (" in result.stdout and "does not follow record 5" in result.stdout


def test_a_removed_record_is_named(audit_db: Path) -> None:
    change(audit_db, "DELETE FROM access_records WHERE seq = 7")
    result = verify(audit_db)
    assert result.returncode == 1
    assert "record 7: record 7 is missing: the log goes from record 6 to 8" in result.stdout


def test_two_swapped_records_are_named(audit_db: Path) -> None:
    change(
        audit_db,
        "UPDATE access_records SET seq = 1000 WHERE seq = 3",
        "UPDATE access_records SET seq = 3 WHERE seq = 9",
        "UPDATE access_records SET seq = 9 WHERE seq = 1000",
    )
    result = verify(audit_db)
    assert result.returncode == 1
    named = [line.split(":")[0] for line in result.stdout.splitlines()]
    assert "record 3" in named and "record 9" in named
    assert "record 3: record 3 (" in result.stdout and "request req-9" in result.stdout


def test_an_inserted_record_is_found(audit_db: Path) -> None:
    change(
        audit_db,
        # make room after record 4 (from the top, so that numbers never collide), then forge one
        *(f"UPDATE access_records SET seq = seq + 1 WHERE seq = {n}" for n in range(RECORDS, 4, -1)),
        "INSERT INTO access_records SELECT 5, at_us, 'forged', requester, official, dataset, subject_hash,"
        " purpose, procedure, dossier, outcome, provider, cache_hit, key_id, hash, 'f' || substr(hash, 2),"
        " official_basis FROM access_records WHERE seq = 4",
    )
    result = verify(audit_db)
    assert result.returncode == 1
    assert "record 5: record 5 (" in result.stdout and "request forged" in result.stdout


def test_removed_newest_records_are_found_with_an_earlier_head(audit_db: Path) -> None:
    first = verify(audit_db)
    head = first.stdout.rsplit("head ", 1)[1].split(";")[0].strip()
    change(audit_db, f"DELETE FROM access_records WHERE seq > {RECORDS - 2}")
    alone = verify(audit_db, "--no-checkpoints")
    assert alone.returncode == 0  # the chain alone cannot tell
    assert "its newest records could have been removed unnoticed" in alone.stdout
    result = verify(audit_db, "--no-checkpoints", "--head", head)
    assert result.returncode == 1
    assert f"the log ends at record {RECORDS - 2}, before the head {RECORDS}" in result.stdout


def test_what_cannot_be_checked_is_exit_2(tmp_path: Path) -> None:
    missing = verify(tmp_path / "none.db")
    assert missing.returncode == 2 and "no audit log at" in missing.stderr
    (tmp_path / "other.db").write_bytes(b"not a database at all, not even close" * 100)
    other = verify(tmp_path / "other.db")
    assert other.returncode == 2 and "cannot read the audit log" in other.stderr
    assert "Traceback" not in missing.stderr + other.stderr


def test_show_prints_a_subjects_records_with_the_key(audit_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIENTHONG_AUDIT_KEY", KEY.decode())
    result = lienthong("audit", "show", "--file", str(audit_db), "--subject", "001099012305")
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    fields = line.split("\t")
    assert fields[0] == "5" and fields[1].endswith("Z")
    # the example configuration names the requester's member
    assert fields[2] == "000.00.00.H46/motcua (UBND tỉnh Quảng Bình)"
    assert fields[3:] == [
        "canbo.01",
        "citizen.identity",
        "dossier_processing",
        "1.002861",
        "000.00.00.H46-261127-0001",
        "released",
    ]
    assert len(lienthong("audit", "show", "--file", str(audit_db), "--limit", "3").stdout.splitlines()) == 3


def test_show_by_subject_needs_the_key(audit_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIENTHONG_AUDIT_KEY", raising=False)
    result = lienthong("audit", "show", "--file", str(audit_db), "--subject", "001099012305")
    assert result.returncode == 2
    assert "LIENTHONG_AUDIT_KEY is not set and there is no key file" in result.stderr
    assert not Path(f"{audit_db}.key").exists()  # reading never makes a key


def renumber_after(removed: int) -> list[str]:
    """The statements that close the gap left by record ``removed`` (from the bottom up, so that
    numbers never collide), as a forger hiding a removal would."""
    return [
        f"UPDATE access_records SET seq = {n - 1} WHERE seq = {n}" for n in range(removed + 1, RECORDS + 1)
    ]


# The tests below look at how the links name a removal hidden by renumbering; the checkpoint also
# names it (the log is now shorter than its last checkpoint), which is left out to keep them apart.
CHAIN_ALONE = "--no-checkpoints"


def problem_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith("record ")]


def test_a_change_does_not_hide_a_removal_after_it(audit_db: Path) -> None:
    # record 5 changed and its hash overwritten with one that does not match (a recomputation
    # gone wrong), then record 6 removed and the rest renumbered: both are reported
    conn = sqlite3.connect(audit_db)
    columns = conn.execute(f"SELECT {FIELDS} FROM access_records WHERE seq = 5").fetchone()
    fields = [str(c) for c in columns]
    fields[9] = "not_found"
    conn.close()
    forged = record_hash(audit_db, fields, "1" * 64)
    change(
        audit_db,
        f"UPDATE access_records SET outcome = 'not_found', hash = '{forged}' WHERE seq = 5",
        "DELETE FROM access_records WHERE seq = 6",
        *renumber_after(6),
    )
    result = verify(audit_db, CHAIN_ALONE)
    assert result.returncode == 1
    lines = problem_lines(result)
    assert len(lines) == 2, result.stdout
    assert lines[0].startswith("record 5: record 5 (") and "was changed" in lines[0]
    assert lines[1].startswith("record 6: record 6 (") and "request req-7" in lines[1]
    assert "does not follow record 5: a record between them was removed" in lines[1]
    assert "the chain is broken (2 problems in 11 records)" in result.stderr


def test_a_change_with_its_hash_recomputed_and_a_later_removal_are_both_named(audit_db: Path) -> None:
    conn = sqlite3.connect(audit_db)
    columns = conn.execute(f"SELECT {FIELDS}, previous_hash FROM access_records WHERE seq = 5").fetchone()
    fields = [str(c) for c in columns[:-1]]
    fields[9] = "not_found"
    conn.close()
    forged = record_hash(audit_db, fields, columns[-1])
    change(
        audit_db,
        f"UPDATE access_records SET outcome = 'not_found', hash = '{forged}' WHERE seq = 5",
        "DELETE FROM access_records WHERE seq = 8",
        *renumber_after(8),
    )
    lines = problem_lines(verify(audit_db, CHAIN_ALONE))
    assert [line.split(":")[0] for line in lines] == ["record 6", "record 8"], lines
    assert "request req-6" in lines[0] and "does not follow record 5" in lines[0]
    assert "request req-9" in lines[1] and "does not follow record 7" in lines[1]


def test_a_single_change_is_one_problem(audit_db: Path) -> None:
    # its hash left alone: record 6 still follows record 5's stored hash, so no break there
    change(audit_db, "UPDATE access_records SET official = 'canbo.99' WHERE seq = 5")
    result = verify(audit_db)
    assert [line.split(":")[0] for line in problem_lines(result)] == ["record 5"]
    assert "the chain is broken (1 problem in 12 records)" in result.stderr
    # only its hash overwritten: its fields still hash to what record 6 follows, one problem too
    change(audit_db, f"UPDATE access_records SET official = 'canbo.01', hash = '{'1' * 64}' WHERE seq = 5")
    result = verify(audit_db)
    assert [line.split(":")[0] for line in problem_lines(result)] == ["record 5"]
    assert "was changed" in result.stdout


def test_a_removal_hidden_by_renumbering_is_one_problem(audit_db: Path) -> None:
    change(audit_db, "DELETE FROM access_records WHERE seq = 7", *renumber_after(7))
    result = verify(audit_db, CHAIN_ALONE)
    [line] = problem_lines(result)
    assert line.startswith("record 7: record 7 (") and "request req-8" in line
    assert "does not follow record 6: a record between them was removed" in line
