"""How the bus knew an official (a verified token's issuer, or asserted) is part of the chained
record: changing it breaks the chain, and logs written without the field still verify and are
extended by the store."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

from adapters.audit import verify_file
from adapters.audit.queries import records
from adapters.audit.tables import connect
from tests.unit.adapters.audit.conftest import MakeStore, access, ring_of

VERIFIED = "verified:https://sso.test.quangbinh.gov.vn/realms/canbo"


async def test_the_basis_is_stored_shown_and_chained(make_store: MakeStore, tmp_path: Path) -> None:
    store = await make_store()
    await store.record(
        [
            dataclasses.replace(access(1), official_basis=VERIFIED),
            dataclasses.replace(access(2), official_basis="asserted"),
            access(3),  # no official basis: an operator's action, a refusal naming no one
        ]
    )
    assert [r.official_basis for r in await store.latest()] == ["", "asserted", VERIFIED]
    assert await store.verify() == []
    await store.close()
    path = tmp_path / "audit.db"
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE access_records SET official_basis = 'asserted' WHERE seq = 1")
    result = verify_file(path, keys=ring_of(path))
    assert not result.intact
    assert result.problems[0].seq == 1 and "was changed" in result.problems[0].detail


async def test_a_log_written_without_the_field_verifies_and_is_extended(
    make_store: MakeStore, tmp_path: Path
) -> None:
    path = tmp_path / "audit.db"
    store = await make_store()
    await store.record([access(1), access(2)])
    await store.close()
    with sqlite3.connect(path) as conn:  # the table as a build without the field made it
        conn.execute("ALTER TABLE access_records DROP COLUMN official_basis")
    conn = connect(path, busy_timeout_s=1.0, writer=False)
    try:
        assert [r.official_basis for r in records(conn, None, limit=10, before=None)] == ["", ""]
    finally:
        conn.close()
    assert verify_file(path, keys=ring_of(path)).intact
    store = await make_store()  # the writer adds the column
    await store.record([dataclasses.replace(access(3), official_basis=VERIFIED)])
    assert await store.verify() == []
    assert verify_file(path, keys=ring_of(path)).records == 3
