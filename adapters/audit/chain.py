"""The chain of the audit log: how a record's link is computed, and how a walk over the records
finds where the chain was broken.

Format 2 (``lienthong-audit/2``, what this build writes): a record's ``hash`` is HMAC-SHA256,
under the chain key its ``key_id`` names (:mod:`adapters.audit.keys`), of a canonical encoding of
its fields and the hash of the record before it (:data:`GENESIS` for the first). The encoding is
length-prefixed so that it is unambiguous and easy to recompute elsewhere: the bytes of
:data:`FORMAT`, then for each value of :data:`HASHED_FIELDS` in that order and then
``previous_hash``, its UTF-8 bytes preceded by their length as 4 bytes big-endian. Integers are
written in decimal, booleans as ``1``/``0``.

A record that says how the bus knows its official (``official_basis``: ``verified:<issuer>`` or
``asserted``) has that value encoded too, after the cache flag and before ``key_id``; a record
without one (every record written before the field existed, operators' actions, refusals that
name no official) is encoded without it, so its link is what it always was.

Format 1 (``lienthong-audit/1``, logs written before): the same encoding with :data:`FORMAT_V1`
and without ``key_id``, hashed with plain SHA-256. Anyone who can write such a log can recompute
it, so it is only verified, never written (docs/audit.md, "Logs of format 1").

The record's number (``seq``) is deliberately not hashed: the order is what the links
(``previous_hash``) fix, so renumbering after a removal or an insertion breaks exactly one link
and is reported once, instead of making every later record look changed.

What a chain alone cannot show is the loss of its newest records (nothing follows them to break a
link); anchors, heads known from elsewhere (a signed checkpoint kept by a witness, a head given
with ``--head``), cover it: the walk checks that each is still in the chain, unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from router.audit import AccessRecord, AuditUnavailable, ChainProblem

FORMAT = b"lienthong-audit/2"
FORMAT_V1 = b"lienthong-audit/1"
GENESIS = "0" * 64
# The fields a record's link covers in format 1, in the order they are encoded; ``previous_hash``
# comes last.
HASHED_FIELDS_V1 = (
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
# Format 2: the same, then the id of the chain key the link is made with.
HASHED_FIELDS = (*HASHED_FIELDS_V1, "key_id")

# How a walk computes a record's link from its hashed fields and the previous hash; it may raise
# UnicodeEncodeError (text that cannot be encoded) or LookupError (a key that is not held).
Link = Callable[[Sequence[str], str], str]


def encode(values: Sequence[str], format: bytes = FORMAT) -> bytes:
    """The canonical encoding of ``values`` (raises UnicodeEncodeError for unencodable text)."""
    parts = [format]
    for value in values:
        data = value.encode("utf-8")
        parts.append(len(data).to_bytes(4, "big"))
        parts.append(data)
    return b"".join(parts)


def link_v2(key: bytes, fields: Sequence[str], previous_hash: str) -> str:
    """The link of a format 2 record whose :data:`HASHED_FIELDS` are ``fields``, under ``key``."""
    return hmac.new(key, encode([*fields, previous_hash]), hashlib.sha256).hexdigest()


def link_v1(fields: Sequence[str], previous_hash: str) -> str:
    """The hash of a format 1 record whose :data:`HASHED_FIELDS_V1` are ``fields``."""
    return hashlib.sha256(encode([*fields, previous_hash], FORMAT_V1)).hexdigest()


def as_text(
    at_us: int, texts: Sequence[str], cache_hit: bool, key_id: str | None = None, official_basis: str = ""
) -> list[str]:
    """A record's hashed fields as text: the time, the ten text fields, the cache flag, the
    official's basis when there is one and, in format 2, the key id (always last)."""
    fields = [str(at_us), *texts, "1" if cache_hit else "0"]
    if official_basis:
        fields.append(official_basis)
    if key_id is not None:
        fields.append(key_id)
    return fields


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


@dataclass(frozen=True, slots=True)
class Anchor:
    """A head known from elsewhere, which the chain must still hold: ``name`` says where it is
    from in problems (``the head 12:9f84...``, ``checkpoint 1240 (signed at ...)``)."""

    head: Head
    name: str


def head_anchor(head: Head) -> Anchor:
    return Anchor(head, f"the head {head.seq}")


def where(seq: int, fields: Sequence[str]) -> str:
    """A record as a problem names it: its number, time and request (written only for problems)."""
    return f"record {seq} ({when(_int(fields[0]))}, request {fields[1] or '-'})"


def when(at_us: int) -> str:
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
    so a walk over a log of any size streams it. After the last record, :meth:`finish` checks that
    every anchor was met.

    ``link`` computes a record's hash (:func:`link_v1`, or a key ring's link in format 2): a record
    whose key is not held cannot be checked, which is reported once for each run of such records.
    """

    def __init__(self, anchors: Sequence[Anchor] = (), *, link: Link = link_v1) -> None:
        self._link = link
        self._anchors: dict[int, list[Anchor]] = {}
        for anchor in anchors:
            if anchor.head.seq > 0:
                self._anchors.setdefault(anchor.head.seq, []).append(anchor)
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
        self._anchors_seen: set[int] = set()
        self._unheld_key: str | None = None  # the key of the run of records that cannot be checked
        # The first and last of a run of records that each follow the one before but do not match
        # their own hashes: adjacent changes, or a chain recomputed without its key. Named by its
        # first record and one line for the rest, not one line per record.
        self._recomputed: tuple[int, int] | None = None

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
        try:
            computed = self._hash_of(fields, previous_hash)
        except LookupError:
            problems += self._unheld(seq, fields)
            computed = None
            checkable = False
        else:
            self._unheld_key = None
            checkable = True
        intact = computed == stored_hash or not checkable
        # A missing number already explains a broken link: the record it names was deleted.
        linked = previous_hash in self._previous_links or not numbered_next
        ended, continuing = self._track_recomputed(
            seq, intact, numbered_next and previous_hash == previous.hash
        )
        problems += ended
        if not continuing:  # a record further along a recomputed run is named with the rest at its end
            found, linked = self._own_problems(seq, fields, previous_hash, stored_hash, intact, linked)
            problems += found
        self._before_previous_links = self._previous_links
        self._previous_links = (stored_hash,) if intact or computed is None else (stored_hash, computed)
        self._previous_intact = intact
        self._previous_linked = numbered_next and linked
        self.head = Head(seq, stored_hash)
        self.records += 1
        for anchor in self._anchors.get(seq, ()):
            self._anchors_seen.add(seq)
            if stored_hash != anchor.head.hash:
                problems.append(
                    ChainProblem(
                        seq, f"{where(seq, fields)} is not the record of {anchor.name}: its hash differs"
                    )
                )
        return problems

    def _own_problems(
        self,
        seq: int,
        fields: Sequence[str],
        previous_hash: str,
        stored_hash: str,
        intact: bool,
        linked: bool,
    ) -> tuple[list[ChainProblem], bool]:
        """A record's problems: its fields against its hash, its link to the record before it."""
        if not intact and not linked and self._chained_to(fields, self._previous_links) == stored_hash:
            # Its fields hash to its stored hash over the right link: only previous_hash was overwritten.
            return [
                ChainProblem(
                    seq,
                    f"{where(seq, fields)} was changed: its previous_hash was overwritten "
                    f"(its fields match its hash chained to {_name(self.head.seq)})",
                )
            ], True
        problems = []
        if not intact:
            problems.append(
                ChainProblem(seq, f"{where(seq, fields)} was changed: its fields do not match its hash")
            )
        if not linked:
            problems.append(ChainProblem(seq, self._break(seq, fields, previous_hash)))
        return problems, linked

    def _track_recomputed(
        self, seq: int, intact: bool, follows_directly: bool
    ) -> tuple[list[ChainProblem], bool]:
        """The end of a recomputed run, if this record ends one; whether it continues one."""
        run = self._recomputed
        if not intact and follows_directly and run is not None and run[1] == seq - 1:
            self._recomputed = (run[0], seq)
            return [], True
        ended = self._end_of_recomputed()
        self._recomputed = (seq, seq) if not intact and follows_directly else None
        return ended, False

    def _end_of_recomputed(self) -> list[ChainProblem]:
        """The records after the first of a recomputed run, in one problem."""
        run, self._recomputed = self._recomputed, None
        if run is None or run[1] == run[0]:
            return []
        first, last = run[0] + 1, run[1]
        which = f"record {first} does" if first == last else f"records {first} to {last} do"
        return [
            ChainProblem(
                first,
                f"{which} not match {'its hash' if first == last else 'their hashes'} either, each "
                f"following the record before it: changed too, or their hashes were recomputed from record "
                f"{run[0]} on by someone without the chain key",
            )
        ]

    def _hash_of(self, fields: Sequence[str], previous_hash: str) -> str | None:
        """The hash of a record's fields over ``previous_hash``; None if they cannot be encoded;
        LookupError if its key is not held."""
        try:
            return self._link(fields, previous_hash)
        except UnicodeEncodeError:
            return None

    def _chained_to(self, fields: Sequence[str], links: Sequence[str]) -> str | None:
        """The hash of a record's fields over the first of ``links`` (the previous stored hash)."""
        return self._hash_of(fields, links[0]) if links else None

    def _unheld(self, seq: int, fields: Sequence[str]) -> list[ChainProblem]:
        """The problem of a record whose key is not held, said once for a run of them."""
        key_id = fields[-1]
        if key_id == self._unheld_key:
            return []
        self._unheld_key = key_id
        return [
            ChainProblem(
                seq,
                f"{where(seq, fields)} and the records after it under the same key cannot be checked: "
                f"they are linked under chain key {key_id or '(none)'}, which is not among the keys held "
                "(a retired key missing from the configuration, or a key of whoever rewrote them)",
            )
        ]

    def _break(self, seq: int, fields: Sequence[str], previous_hash: str) -> str:
        """Why record ``seq``, numbered next after the previous one, does not chain to it."""
        before = _name(seq - 1)
        broken = f"{where(seq, fields)} does not follow {before}"
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
        """The problems found at the end: a recomputed run up to the end, anchors that are gone."""
        problems = self._end_of_recomputed()
        for seq in sorted(set(self._anchors) - self._anchors_seen):
            for anchor in self._anchors[seq]:
                if seq > self.head.seq:
                    problems.append(
                        ChainProblem(
                            self.head.seq + 1,
                            f"the log ends at record {self.head.seq}, before {anchor.name}: "
                            "its newest records were removed",
                        )
                    )
                else:
                    problems.append(ChainProblem(seq, f"record {seq} of {anchor.name} is missing"))
        return problems


def _name(seq: int) -> str:
    return "the start of the log" if seq == 0 else f"record {seq}"


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


# What an audit store queues for its writer: a record's ten text fields (the subject already
# hashed), its cache flag and the official's basis.
ChainRow = tuple[tuple[str, ...], bool, str]


def chain_row(
    record: AccessRecord, hash_subject: Callable[[str], str], *, refuse_nul: bool = False
) -> ChainRow:
    """A record as a store's writer needs it, checked here so that a bad one fails only its caller
    (:class:`AuditUnavailable`, naming no value): every field text, encodable, and without a NUL
    when the store cannot hold one (PostgreSQL's text)."""
    fields = (
        record.request_id,
        record.requester,
        record.official,
        record.dataset,
        record.subject,
        record.purpose,
        record.procedure,
        record.dossier,
        record.outcome,
        record.provider,
        record.official_basis,
    )
    if not all(isinstance(field, str) for field in fields):
        raise AuditUnavailable("an access record holds a field that is not text; it was not written")
    try:
        encode(fields)
    except UnicodeEncodeError:
        raise AuditUnavailable(
            "an access record holds text that is not valid Unicode; it was not written"
        ) from None
    if refuse_nul and any("\x00" in field for field in fields):
        raise AuditUnavailable("an access record holds a NUL character; it was not written")
    texts = (*fields[:4], hash_subject(record.subject), *fields[5:-1])
    return texts, bool(record.cache_hit), record.official_basis
