"""Someone who can write the audit database, but holds none of the bus's keys, cannot rewrite it
unnoticed: ``lienthong audit verify``, run as an operator runs it (a real process, default
arguments, no head copied by hand), finds a rewrite and a truncation, and a forged checkpoint.

The forger's code below uses nothing of the bus's: it is what anyone with the file and the
published chain format could write (the format 1 formula, or an HMAC under a key of their own).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.integration.audit.test_audit_verify import RECORDS, write_records
from tests.support.cli import lienthong

FIELDS = (
    "at_us, request_id, requester, official, dataset, subject_hash, purpose, procedure, dossier,"
    " outcome, provider, cache_hit"
)
Recompute = Callable[[list[str], str], str]


def encode(prefix: bytes, values: list[str]) -> bytes:
    parts = [prefix]
    for value in values:
        data = value.encode("utf-8")
        parts += [len(data).to_bytes(4, "big"), data]
    return b"".join(parts)


def plain_sha256(fields: list[str], previous: str) -> str:
    return hashlib.sha256(encode(b"lienthong-audit/1", [*fields, previous])).hexdigest()


def own_key(fields: list[str], previous: str) -> str:
    return hmac.new(
        b"the forger's own key", encode(b"lienthong-audit/2", [*fields, previous]), "sha256"
    ).hexdigest()


def rewrite(path: Path, recompute: Recompute, *, changed: int = 5, keep: int = RECORDS - 2) -> None:
    """Record ``changed`` made to say not_found, the records after ``keep`` deleted, and every
    hash from ``changed`` on recomputed so that each record follows the one before it."""
    conn = sqlite3.connect(path)
    columns = [row[1] for row in conn.execute("PRAGMA table_info(access_records)")]
    extra = ", key_id" if "key_id" in columns else ""  # the forger keeps the key id it found
    with conn:
        conn.execute(f"UPDATE access_records SET outcome = 'not_found' WHERE seq = {changed}")
        conn.execute(f"DELETE FROM access_records WHERE seq > {keep}")
        previous = conn.execute(f"SELECT hash FROM access_records WHERE seq = {changed - 1}").fetchone()[0]
        rows = conn.execute(
            f"SELECT seq, {FIELDS}{extra} FROM access_records WHERE seq >= {changed} ORDER BY seq"
        ).fetchall()
        for seq, *values in rows:
            digest = recompute([str(v) for v in values], previous)
            conn.execute(
                "UPDATE access_records SET previous_hash = ?, hash = ? WHERE seq = ?", (previous, digest, seq)
            )
            previous = digest
    conn.close()


def verify(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return lienthong("audit", "verify", "--file", str(path), *args)


@pytest.fixture
def audit_db(tmp_path: Path) -> Path:
    path = tmp_path / "audit.db"
    write_records(path)
    return path


@pytest.mark.parametrize("recompute", [plain_sha256, own_key], ids=["sha256", "own-key"])
def test_a_record_changed_and_the_newest_removed_with_the_chain_recomputed_is_found(
    audit_db: Path, recompute: Recompute
) -> None:
    rewrite(audit_db, recompute)
    result = verify(audit_db)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("record 5: record 5 (") and "request req-5) was changed" in lines[0]
    assert lines[1].startswith("record 6: records 6 to 10 do not match their hashes either")
    assert "recomputed from record 5 on by someone without the chain key" in lines[1]
    assert lines[2].startswith(
        f"record 11: the log ends at record 10, before checkpoint {RECORDS} (signed at "
    )
    assert lines[2].endswith("): its newest records were removed")
    assert "the chain is broken (3 problems in 10 records)" in result.stderr


def test_the_newest_records_removed_are_found_by_the_witnessed_checkpoint(audit_db: Path) -> None:
    conn = sqlite3.connect(audit_db)
    with conn:
        conn.execute(f"DELETE FROM access_records WHERE seq > {RECORDS - 3}")
    conn.close()
    result = verify(audit_db)
    assert result.returncode == 1, result.stdout + result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith(
        f"record {RECORDS - 2}: the log ends at record {RECORDS - 3}, before checkpoint {RECORDS}"
    )
    assert f"witnessed in {audit_db}.checkpoints): its newest records were removed" in line


def test_an_intact_log_holds_its_latest_checkpoint(audit_db: Path) -> None:
    result = verify(audit_db)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{RECORDS} records, chain intact; head {RECORDS}:" in result.stdout
    assert f"; it holds checkpoint {RECORDS} (signed at " in result.stdout


def test_a_forged_last_checkpoint_is_reported(audit_db: Path) -> None:
    # whoever rewrote the log appends a checkpoint of the rewritten head, with no signing key
    rewrite(audit_db, plain_sha256, keep=RECORDS)
    witness = Path(f"{audit_db}.checkpoints")
    last = json.loads(witness.read_text().splitlines()[-1])
    conn = sqlite3.connect(audit_db)
    head = conn.execute("SELECT hash FROM access_records WHERE seq = ?", (RECORDS,)).fetchone()[0]
    conn.close()
    with witness.open("a") as file:
        file.write(json.dumps(last | {"hash": head, "at_us": last["at_us"] + 1}) + "\n")
    result = verify(audit_db)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    forged = f"checkpoints: {witness} line {len(witness.read_text().splitlines())}"
    assert any(
        line.startswith(forged) and "does not verify: the line was forged or damaged" in line
        for line in lines
    )
    # the genuine checkpoint before it still counts, and names the rewritten head
    assert any(f"is not the record of checkpoint {RECORDS} (signed at" in line for line in lines)
    assert "and 1 with its checkpoints" in result.stderr


def test_keys_prints_ids_and_the_public_key_never_a_secret(audit_db: Path) -> None:
    result = lienthong("audit", "keys", "--file", str(audit_db))
    assert result.returncode == 0, result.stderr
    chain, public = result.stdout.splitlines()
    assert chain.startswith("chain key (current): ") and len(chain.split(": ")[1]) == 16
    assert public.startswith("checkpoint public key: ")
    secrets = [Path(f"{audit_db}.{name}").read_text().strip() for name in ("chain-key", "signing-key")]
    assert not any(secret in result.stdout for secret in secrets)
    # checked with the key it prints, the checkpoints verify; with another, they cannot be checked
    key = public.split(": ")[1].split(" ")[0]
    assert verify(audit_db, "--public-key", key).returncode == 0
    other = verify(audit_db, "--public-key", "B" * 43 + "=")
    assert other.returncode == 1 and "not by the key given" in other.stdout
