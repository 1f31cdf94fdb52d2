"""Checking an audit database's chain, as ``lienthong audit verify`` and the store do it.

The records are streamed in the order of their numbers through one cursor (SQLite reads the
table's b-tree in order, a page at a time), so a log of any size is checked in constant memory.
The file is opened read-only, which is safe while the bus writes it: the walk sees the snapshot
of its start.

A log of format 2 is checked with its chain keys (every link an HMAC under the key its record
names, keys changing only at rotation records); a log of format 1 with plain SHA-256, which shows
accidents and clumsy edits but not a recomputed chain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.audit.chain import EMPTY, HASHED_FIELDS, Anchor, ChainWalk, Head, Link, link_v1
from adapters.audit.keys import KeyRing
from adapters.audit.rotation import KeyEpochs
from adapters.audit.tables import V1, connect, official_basis_column, version_of
from router.audit import ChainProblem

# Problems kept in memory at most: a log renumbered or rewritten from some record on could
# otherwise yield as many problems as it has records. The count of all of them is kept.
MAX_PROBLEMS = 1000

_WALK_V1 = (
    "SELECT seq, at_us, request_id, requester, official, dataset, subject_hash, purpose, procedure,"
    " dossier, outcome, provider, cache_hit, previous_hash, hash FROM access_records ORDER BY seq"
)
_WALK = (
    "SELECT seq, at_us, request_id, requester, official, dataset, subject_hash, purpose, procedure,"
    " dossier, outcome, provider, cache_hit, {basis}, key_id, previous_hash, hash FROM access_records"
    " ORDER BY seq"
)
_BASIS = len(HASHED_FIELDS) - 1  # where a record's official basis is among its columns (chain.as_text)
_LOG_ID = "SELECT value FROM meta WHERE name = 'log_id'"


class KeysNeeded(ValueError):
    """A log of format 2 cannot be checked without its chain keys."""


@dataclass(slots=True)
class Verification:
    records: int = 0
    head: Head = EMPTY
    problems: list[ChainProblem] = field(default_factory=list)
    problem_count: int = 0  # all of them, also those past ``MAX_PROBLEMS``
    format: int = 2
    log_id: str = ""  # the log's id (format 2), which its checkpoints name

    @property
    def intact(self) -> bool:
        return self.problem_count == 0


def log_id_of(path: Path) -> tuple[int, str]:
    """The format version and the id of the audit database at ``path`` (no id in format 1)."""
    conn = connect(path, busy_timeout_s=10.0, writer=False)
    try:
        version = version_of(conn)
        row = None if version == V1 else conn.execute(_LOG_ID).fetchone()
        return version, "" if row is None else str(row[0])
    finally:
        conn.close()


def verify_file(
    path: Path,
    *,
    keys: KeyRing | None = None,
    anchors: Sequence[Anchor] = (),
    max_problems: int = MAX_PROBLEMS,
) -> Verification:
    """Walks the chain of the audit database at ``path``, checking that each anchor is in it;
    raises sqlite3.Error or :class:`~adapters.audit.tables.AuditFileError` if it cannot be read,
    :class:`KeysNeeded` for a log of format 2 without ``keys``."""
    conn = connect(path, busy_timeout_s=10.0, writer=False)
    try:
        version = version_of(conn)
        result = Verification(format=version)
        link: Link
        if version == V1:
            link, query, epochs = link_v1, _WALK_V1, None
        else:
            if keys is None:
                raise KeysNeeded(f"{path} is keyed (format 2): its chain keys are needed to check it")
            row = conn.execute(_LOG_ID).fetchone()
            result.log_id = "" if row is None else str(row[0])
            link, query, epochs = keys.link, _WALK.format(basis=official_basis_column(conn)), KeyEpochs()
        check = RowCheck(result, link, epochs, anchors, max_problems)
        cursor = conn.execute(query)
        cursor.arraysize = 1000
        while rows := cursor.fetchmany():
            check.feed(rows)
        check.finish()
        return result
    finally:
        conn.close()


class RowCheck:
    """The walk over a log's rows, fed a page at a time in the order of their numbers (from a
    SQLite cursor, or a PostgreSQL one: :mod:`adapters.state.postgres_audit`), the problems
    gathered in ``result``. A row is ``seq``, the hashed columns (``chain.as_text``'s order, the
    official's basis and the key id included from format 2 on), ``previous_hash`` and ``hash``."""

    def __init__(
        self,
        result: Verification,
        link: Link,
        epochs: KeyEpochs | None,
        anchors: Sequence[Anchor] = (),
        max_problems: int = MAX_PROBLEMS,
    ) -> None:
        self._result = result
        self._epochs = epochs
        self._walk = ChainWalk(anchors, link=link)
        self._max_problems = max_problems

    def _note(self, problems: list[ChainProblem]) -> None:
        result = self._result
        result.problem_count += len(problems)
        room = self._max_problems - len(result.problems)
        if room > 0:
            result.problems.extend(problems[:room])

    def feed(self, rows: Sequence[Sequence[Any]]) -> None:
        for row in rows:
            seq, *columns, previous_hash, stored_hash = row
            # Each column as text, as the writer hashed it (see chain.as_text): a value
            # rewritten with another type (2 for 1, NULL) no longer matches.
            fields = [str(column) for column in columns]
            if self._result.format != V1 and not fields[_BASIS]:
                del fields[_BASIS]  # no basis: encoded without it (chain.as_text)
            if self._epochs is not None:
                self._note(self._epochs.step(int(seq), fields))
            self._note(self._walk.step(int(seq), fields, str(previous_hash), str(stored_hash)))

    def finish(self) -> Verification:
        self._note(self._walk.finish())
        self._result.records = self._walk.records
        self._result.head = self._walk.head
        return self._result
