"""The hash chain of the audit log: how a record's hash is computed, and how a walk over the
records finds where the chain was broken.

A record's hash is SHA-256 over a canonical encoding of its fields and the hash of the record
before it (:data:`GENESIS` for the first). The encoding is length-prefixed so that it is
unambiguous and easy to recompute elsewhere: the bytes of :data:`FORMAT`, then for each value of
:data:`HASHED_FIELDS` in that order, its UTF-8 bytes preceded by their length as 4 bytes big-endian.
Integers are written in decimal, booleans as ``1``/``0``.

The record's number (``seq``) is deliberately not hashed: the order is what the links
(``previous_hash``) fix, so renumbering after a removal or an insertion breaks exactly one link
and is reported once, instead of making every later record look changed.

What a chain alone cannot show is the loss of its newest records (nothing follows them to break a
link) or records appended by someone who recomputes the hashes; keeping the head (the last
record's number and hash) outside the machine and checking it later (``--head``) covers both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from router.audit import ChainProblem

FORMAT = b"lienthong-audit/1"
GENESIS = "0" * 64
# The fields a record's hash covers, in the order they are encoded; ``previous_hash`` comes last.
HASHED_FIELDS = (
    "at_us",
    "request_id",
    "requester",
    "official",
    "dataset",
    "subject_hash",
    "purpose",
    "procedure",
    "dossier",
    "outcome",
    "provider",
    "cache_hit",
)


def encode(values: Sequence[str]) -> bytes:
    """The canonical encoding of ``values`` (raises UnicodeEncodeError for unencodable text)."""
    parts = [FORMAT]
    for value in values:
        data = value.encode("utf-8")
        parts.append(len(data).to_bytes(4, "big"))
        parts.append(data)
    return b"".join(parts)


def record_hash(fields: Sequence[str], previous_hash: str) -> str:
    """The hash of a record whose :data:`HASHED_FIELDS` are ``fields`` (as text)."""
    return hashlib.sha256(encode([*fields, previous_hash])).hexdigest()


def as_text(at_us: int, texts: Sequence[str], cache_hit: bool) -> list[str]:
    """A record's hashed fields as text: the time, the ten text fields, the cache flag."""
    return [str(at_us), *texts, "1" if cache_hit else "0"]


@dataclass(frozen=True, slots=True)
class Head:
    """The chain's newest record: its number and hash (seq 0 and :data:`GENESIS` when empty)."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> Head:
        """``SEQ:HASH`` as :class:`Head` prints it; raises ValueError otherwise."""
        seq, _, digest = text.strip().partition(":")
        if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{text!r} is not a chain head; write SEQ:HASH, e.g. 1234:{'0' * 8}...")
        return cls(int(seq), digest)


EMPTY = Head(0, GENESIS)


def _where(seq: int, fields: Sequence[str]) -> str:
    """A record as a problem names it: its number, time and request (written only for problems)."""
    return f"record {seq} ({_when(_int(fields[0]))}, request {fields[1] or '-'})"


def _when(at_us: int) -> str:
    try:
        return datetime.fromtimestamp(at_us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return f"time {at_us}"


class ChainWalk:
    """Checks records one by one, in the order of their numbers, and says what is wrong.

    Two checks per record, each reported on its own so that one tampering never hides another:
    its fields against its own hash (a changed record), and its ``previous_hash`` against the
    record before it (a removal, an insertion, a reordering, or a change with the hash recomputed).
    Memory is constant: only what the next record may chain to is kept, for the last two records,
    so a walk over a log of any size streams it. After the last record, :meth:`finish` checks the
    expected head.
    """

    def __init__(self, expected_head: Head | None = None) -> None:
        self.expected_head = expected_head
        self.records = 0
        self.head = EMPTY
        # The hashes the next record may chain to: the previous record's stored hash and, when its
        # hash column was overwritten, the hash of its fields (then the record after it still
        # follows it, and the one change is reported once, at the record itself).
        self._previous_links: tuple[str, ...] = (GENESIS,)
        self._previous_intact = True
        # Whether the previous record follows the one before it, and that one's hashes: a record
        # that follows the record two back while the one between follows it too was inserted.
        self._previous_linked = False
        self._before_previous_links: tuple[str, ...] = ()
        self._head_seen = False

    def step(
        self, seq: int, fields: Sequence[str], previous_hash: str, stored_hash: str
    ) -> list[ChainProblem]:
        """The problems of record ``seq`` (``fields`` as :func:`as_text` gives them)."""
        problems: list[ChainProblem] = []
        previous = self.head
        numbered_next = seq == previous.seq + 1
        if not numbered_next:
            first, last = previous.seq + 1, seq - 1
            missing = f"record {first} is" if first == last else f"records {first} to {last} are"
            problems.append(
                ChainProblem(first, f"{missing} missing: the log goes from record {previous.seq} to {seq}")
            )
        computed = _hash_of(fields, previous_hash)
        intact = computed == stored_hash
        # A missing number already explains a broken link: the record it names was deleted.
        linked = previous_hash in self._previous_links or not numbered_next
        if not intact and not linked and _chained_to(fields, self._previous_links) == stored_hash:
            # Its fields hash to its stored hash over the right link: only previous_hash was overwritten.
            problems.append(
                ChainProblem(
                    seq,
                    f"{_where(seq, fields)} was changed: its previous_hash was overwritten "
                    f"(its fields match its hash chained to {_name(previous.seq)})",
                )
            )
            linked = True
        else:
            if not intact:
                problems.append(
                    ChainProblem(seq, f"{_where(seq, fields)} was changed: its fields do not match its hash")
                )
            if not linked:
                problems.append(ChainProblem(seq, self._break(seq, fields, previous_hash)))
        self._before_previous_links = self._previous_links
        self._previous_links = (stored_hash,) if intact or computed is None else (stored_hash, computed)
        self._previous_intact = intact
        self._previous_linked = numbered_next and linked
        self.head = Head(seq, stored_hash)
        self.records += 1
        expected = self.expected_head
        if expected is not None and seq == expected.seq:
            self._head_seen = True
            if stored_hash != expected.hash:
                problems.append(
                    ChainProblem(
                        seq,
                        f"{_where(seq, fields)} is not the record of the head {expected}: its hash differs",
                    )
                )
        return problems

    def _break(self, seq: int, fields: Sequence[str], previous_hash: str) -> str:
        """Why record ``seq``, numbered next after the previous one, does not chain to it."""
        before = _name(seq - 1)
        broken = f"{_where(seq, fields)} does not follow {before}"
        if self._previous_linked and previous_hash in self._before_previous_links:
            return f"{broken}: it follows {_name(seq - 2)}, so {before} was inserted between them"
        if not self._previous_intact:
            # The previous record's fields and hash were both rewritten, or a record was removed
            # after it: the chain cannot tell which, so both are named.
            return (
                f"{broken}: a record between them was removed, or the hash of {before} was "
                "overwritten when it was changed"
            )
        return (
            f"{broken}: a record between them was removed, or "
            f"{before} was changed or inserted with its hash recomputed"
        )

    def finish(self) -> list[ChainProblem]:
        """The problems found at the end: a head that was expected and is gone."""
        expected = self.expected_head
        if expected is None or expected.seq == 0 or self._head_seen:
            return []
        if expected.seq > self.head.seq:
            return [
                ChainProblem(
                    self.head.seq + 1,
                    f"the log ends at record {self.head.seq}, before the head {expected.seq}: "
                    "its newest records were removed",
                )
            ]
        return [ChainProblem(expected.seq, f"record {expected.seq} of the head {expected} is missing")]


def _hash_of(fields: Sequence[str], previous_hash: str) -> str | None:
    """The hash of a record's fields over ``previous_hash``; None if they cannot be encoded."""
    try:
        return record_hash(fields, previous_hash)
    except UnicodeEncodeError:
        return None


def _chained_to(fields: Sequence[str], links: Sequence[str]) -> str | None:
    """The hash of a record's fields over the first of ``links`` (the previous stored hash)."""
    return _hash_of(fields, links[0]) if links else None


def _name(seq: int) -> str:
    return "the start of the log" if seq == 0 else f"record {seq}"


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0
