"""Rotating the chain key on a real store: a rotation record, the old key kept to verify, and what
a retired or foreign key can no longer do."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from adapters.audit import verify_file
from adapters.audit.chain import as_text
from adapters.audit.keys import ChainKey, KeyRing
from adapters.audit.rotation import DATASET
from router.errors import ConfigError
from tests.unit.adapters.audit.conftest import MakeStore, access

OLD = ChainKey(b"the first chain key, thirty-two bytes long")
NEW = ChainKey(b"the second chain key, thirty-two bytes long")
FOREIGN = ChainKey(b"somebody else's key, thirty-two bytes long")


def key_ids(path: Path) -> list[tuple[int, str, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT seq, dataset, key_id FROM access_records ORDER BY seq").fetchall()
    finally:
        conn.close()


async def rotated(make_store: MakeStore, tmp_path: Path) -> Path:
    """Two records under OLD, then the store opened with NEW current and OLD retired."""
    store = await make_store(chain_keys=KeyRing(OLD))
    await store.record([access(1), access(2)])
    await store.close()
    store = await make_store(chain_keys=KeyRing(NEW, [OLD]))
    await store.record([access(3)])
    await store.close()
    return tmp_path / "audit.db"


async def test_a_rotation_is_a_record_and_new_records_use_the_new_key(
    make_store: MakeStore, tmp_path: Path
) -> None:
    path = await rotated(make_store, tmp_path)
    rows = key_ids(path)
    assert [(seq, key) for seq, _, key in rows] == [(1, OLD.id), (2, OLD.id), (3, NEW.id), (4, NEW.id)]
    assert rows[2][1] == DATASET
    store = await make_store(chain_keys=KeyRing(NEW, [OLD]))
    [rotation] = [r for r in await store.latest() if r.dataset == DATASET]
    assert rotation.purpose == f"chain key {OLD.id} replaced by {NEW.id}"
    assert rotation.subject_hash == ""  # never in anyone's access report
    assert await store.verify() == []
    assert [r.seq for r in await store.latest(1)] == [4]  # no second rotation: the head is under NEW


async def test_verification_needs_every_key_still_held(make_store: MakeStore, tmp_path: Path) -> None:
    path = await rotated(make_store, tmp_path)
    assert verify_file(path, keys=KeyRing(NEW, [OLD])).intact
    result = verify_file(path, keys=KeyRing(NEW))
    [problem] = result.problems  # said once for the run of records under the missing key
    assert (
        problem.seq == 1
        and f"linked under chain key {OLD.id}, which is not among the keys held" in problem.detail
    )


async def test_a_store_refuses_to_start_without_the_key_of_its_newest_record(
    make_store: MakeStore, tmp_path: Path
) -> None:
    store = await make_store(chain_keys=KeyRing(OLD))
    await store.record([access(1)])
    await store.close()
    with pytest.raises(
        ConfigError, match=f"linked under chain key {OLD.id}, which is not among the keys given"
    ):
        await make_store(chain_keys=KeyRing(NEW))
    assert [seq for seq, _, _ in key_ids(tmp_path / "audit.db")] == [1]  # nothing written


async def test_a_retired_key_cannot_rewrite_what_follows_its_rotation(
    make_store: MakeStore, tmp_path: Path
) -> None:
    # whoever got hold of the retired key rewrites the newest record under it
    path = await rotated(make_store, tmp_path)
    conn = sqlite3.connect(path)
    at_us, *texts, previous = conn.execute(
        "SELECT at_us, request_id, requester, official, dataset, subject_hash, purpose, procedure, dossier,"
        " outcome, provider, cache_hit, previous_hash FROM access_records WHERE seq = 4"
    ).fetchone()
    texts[8] = "not_found"
    fields = as_text(at_us, texts[:10], bool(texts[10]), OLD.id)
    with conn:
        conn.execute(
            "UPDATE access_records SET outcome = 'not_found', key_id = ?, hash = ? WHERE seq = 4",
            (OLD.id, KeyRing(OLD).link(fields, previous)),
        )
    conn.close()
    result = verify_file(path, keys=KeyRing(NEW, [OLD]))
    [problem] = result.problems  # its link is right under OLD, but OLD was retired at record 3
    assert problem.seq == 4 and f"is linked under chain key {OLD.id}" in problem.detail
    assert "no rotation record comes between" in problem.detail


async def test_a_key_of_the_forgers_own_is_not_held(make_store: MakeStore, tmp_path: Path) -> None:
    store = await make_store(chain_keys=KeyRing(OLD))
    await store.record([access(1), access(2)])
    await store.close()
    path = tmp_path / "audit.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE access_records SET key_id = ? WHERE seq = 2", (FOREIGN.id,))
    conn.close()
    details = [p.detail for p in verify_file(path, keys=KeyRing(OLD)).problems]
    assert any("no rotation record comes between" in d for d in details)
    assert any(f"chain key {FOREIGN.id}, which is not among the keys held" in d for d in details)
