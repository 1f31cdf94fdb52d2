"""Checking an audit database's chain, as ``lienthong audit verify`` and the store do it.

The records are streamed in the order of their numbers through one cursor (SQLite reads the
table's b-tree in order, a page at a time), so a log of any size is checked in constant memory.
The file is opened read-only, which is safe while the bus writes it: the walk sees the snapshot
of its start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from adapters.audit.chain import EMPTY, ChainWalk, Head
from adapters.audit.schema import connect
from router.audit import ChainProblem

# Problems kept in memory at most: a log renumbered or rewritten from some record on could
# otherwise yield as many problems as it has records. The count of all of them is kept.
MAX_PROBLEMS = 1000

_WALK = (
    "SELECT seq, at_us, request_id, requester, official, dataset, subject_hash, purpose, procedure,"
    " dossier, outcome, provider, cache_hit, previous_hash, hash FROM access_records ORDER BY seq"
)


@dataclass(slots=True)
class Verification:
    records: int = 0
    head: Head = EMPTY
    problems: list[ChainProblem] = field(default_factory=list)
    problem_count: int = 0  # all of them, also those past ``MAX_PROBLEMS``

    @property
    def intact(self) -> bool:
        return self.problem_count == 0


def verify_file(
    path: Path, *, expected_head: Head | None = None, max_problems: int = MAX_PROBLEMS
) -> Verification:
    """Walks the chain of the audit database at ``path``; raises sqlite3.Error or
    :class:`~adapters.audit.schema.AuditFileError` if it cannot be read."""
    conn = connect(path, busy_timeout_s=10.0, writer=False)
    try:
        walk = ChainWalk(expected_head)
        result = Verification()

        def note(problems: list[ChainProblem]) -> None:
            result.problem_count += len(problems)
            room = max_problems - len(result.problems)
            if room > 0:
                result.problems.extend(problems[:room])

        cursor = conn.execute(_WALK)
        cursor.arraysize = 1000
        while rows := cursor.fetchmany():
            for row in rows:
                seq, *columns, previous_hash, stored_hash = row
                # Each column as text, as the writer hashed it (see chain.as_text): a value
                # rewritten with another type (2 for 1, NULL) no longer matches.
                fields = [str(column) for column in columns]
                note(walk.step(int(seq), fields, str(previous_hash), str(stored_hash)))
        note(walk.finish())
        result.records = walk.records
        result.head = walk.head
        return result
    finally:
        conn.close()
