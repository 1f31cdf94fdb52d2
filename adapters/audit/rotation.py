"""Chain key rotation: the record that starts a new key, and the check that keys change only there.

When the store opens a log whose newest record is linked under another key than the current one
(the operator set a new key and kept the old one as retired), it first appends a rotation record,
linked under the new key: an operator action (dataset ``admin.rotate_chain_key``, no subject)
whose ``purpose`` names both keys, ``chain key <old id> replaced by <new id>``. Every record after
it is linked under the new key.

:class:`KeyEpochs` checks a walk: the key of a record is the key of the record before it, except
at a rotation record from that key. A record linked under a retired key after its rotation, or
under a new key with no rotation before it, is reported even when the key is held: a key that
leaked after its retirement cannot be used to rewrite what followed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from adapters.audit.chain import HASHED_FIELDS, where
from router.audit import ADMIN_PREFIX, AccessRecord, ChainProblem, admin_action

ROTATION = "rotate_chain_key"
DATASET = ADMIN_PREFIX + ROTATION
REQUESTER = "lienthong"  # the bus itself rotates the key, at start
_DETAIL = re.compile(r"chain key ([0-9a-f]{16}) replaced by ([0-9a-f]{16})")
_DATASET = HASHED_FIELDS.index("dataset")
_PURPOSE = HASHED_FIELDS.index("purpose")


def rotation_record(request_id: str, old_id: str, new_id: str) -> AccessRecord:
    return admin_action(
        request_id, REQUESTER, "", ROTATION, "done", f"chain key {old_id} replaced by {new_id}"
    )


def rotation_of(fields: Sequence[str]) -> tuple[str, str] | None:
    """The old and new key ids, when ``fields`` (format 2, as text) are those of a rotation record."""
    if fields[_DATASET] != DATASET:
        return None
    found = _DETAIL.fullmatch(fields[_PURPOSE])
    return (found[1], found[2]) if found else None


class KeyEpochs:
    """Checks, record by record, that the chain key changes only at a rotation record."""

    def __init__(self) -> None:
        self.key_id: str | None = None  # the key of the previous record
        self._since = 0  # the number of the record from which that key is in use

    def step(self, seq: int, fields: Sequence[str]) -> list[ChainProblem]:
        key_id, previous = fields[-1], self.key_id
        if previous is None or key_id == previous:
            if previous is None:
                self._since = seq
            self.key_id = key_id
            return []
        self.key_id, since = key_id, self._since
        self._since = seq
        if rotation_of(fields) == (previous, key_id):
            return []
        return [
            ChainProblem(
                seq,
                f"{where(seq, fields)} is linked under chain key {key_id}, but the records before it "
                f"(from record {since}) are under key {previous} and no rotation record comes between",
            )
        ]
