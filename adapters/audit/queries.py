"""Reading records back: a subject's (by its keyed hash) or the latest, newest first, a page at a
time. Used by the store on its reader thread and by ``lienthong audit show`` on the file."""

from __future__ import annotations

import sqlite3
from typing import Any

from adapters.audit.tables import official_basis_column
from router.audit import StoredAccessRecord

MAX_LIMIT = 10_000
_NO_BOUND = 1 << 62

_COLUMNS = (
    "SELECT seq, at_us, request_id, requester, official, dataset, subject_hash, purpose, procedure,"
    " dossier, outcome, provider, cache_hit, previous_hash, hash, {basis} FROM access_records"
)
BY_SUBJECT = _COLUMNS + " WHERE subject_hash = ? AND seq < ? ORDER BY seq DESC LIMIT ?"
LATEST = _COLUMNS + " WHERE seq < ? ORDER BY seq DESC LIMIT ?"


def records(
    conn: sqlite3.Connection, subject_hash: str | None, *, limit: int, before: int | None
) -> list[StoredAccessRecord]:
    """The records about ``subject_hash`` (any subject's when None) numbered below ``before``."""
    if limit < 1:
        raise ValueError("limit must be positive")
    # a ``before`` past any record means no bound (and one past SQLite's 64 bits would not bind)
    bound = _NO_BOUND if before is None else min(before, _NO_BOUND)
    limit = min(limit, MAX_LIMIT)
    basis = official_basis_column(conn)
    if subject_hash is None:
        rows = conn.execute(LATEST.format(basis=basis), (bound, limit)).fetchall()
    else:
        rows = conn.execute(BY_SUBJECT.format(basis=basis), (subject_hash, bound, limit)).fetchall()
    return [_stored(row) for row in rows]


def _stored(row: Any) -> StoredAccessRecord:
    seq, at_us, *texts, cache_hit, previous_hash, digest, basis = row
    request_id, requester, official, dataset, subject_hash, purpose, procedure, dossier, outcome, provider = (
        str(text) for text in texts
    )
    return StoredAccessRecord(
        seq=int(seq),
        at=int(at_us) / 1e6,
        request_id=request_id,
        requester=requester,
        official=official,
        dataset=dataset,
        subject_hash=subject_hash,
        purpose=purpose,
        procedure=procedure,
        dossier=dossier,
        outcome=outcome,
        provider=provider,
        cache_hit=bool(cache_hit),
        previous_hash=str(previous_hash),
        hash=str(digest),
        official_basis=str(basis),
    )
