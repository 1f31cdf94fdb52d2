"""Signed checkpoints of the chain's head, and reading them back from a witness.

A checkpoint says "the log ``log`` had record ``seq`` with hash ``hash`` (linked under chain key
``key_id``) at ``at_us``", signed with the bus's Ed25519 key (:mod:`adapters.audit.signing`). The
bus hands one to its witnesses every so often (:mod:`adapters.audit.publisher`): systems off the
bus's host that keep what they are given. Whoever later rewrites or cuts the log cannot take back
a checkpoint a witness holds, so ``lienthong audit verify`` finds the change by checking the log
against the latest one.

A checkpoint is one JSON object on one line (a witness file is these lines, appended)::

    {"format": "lienthong-audit-checkpoint/1", "log": "<32 hex>", "seq": 1240, "hash": "<64 hex>",
     "key_id": "<16 hex>", "at_us": 1795000000000000, "at": "2026-11-18T03:06:40.000000Z",
     "signer": "<16 hex>", "signature": "<base64>"}

The signature is Ed25519 over the same length-prefixed encoding as the chain's records
(:func:`adapters.audit.chain.encode`) of :data:`FORMAT` then ``log``, ``seq``, ``hash``,
``key_id``, ``at_us`` and ``signer``; ``at`` is for people and not signed. ``signer`` is the id of
the public key (:class:`~adapters.audit.signing.PublicKey`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from adapters.audit.chain import Head, encode, when
from adapters.audit.signing import PublicKey, Signer

FORMAT_NAME = "lienthong-audit-checkpoint/1"
FORMAT = FORMAT_NAME.encode("ascii")
_HEX = {"log": 32, "hash": 64, "key_id": 16, "signer": 16}
_HEX_TEXT = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    log: str
    seq: int
    hash: str
    key_id: str
    at_us: int
    signer: str
    signature: str = ""

    @property
    def head(self) -> Head:
        return Head(self.seq, self.hash)

    @property
    def when(self) -> str:
        return when(self.at_us)

    def signed_bytes(self) -> bytes:
        values = [self.log, str(self.seq), self.hash, self.key_id, str(self.at_us), self.signer]
        return encode(values, FORMAT)

    def line(self) -> str:
        """The checkpoint as a witness keeps it: one line of JSON, without its newline."""
        at = datetime.fromtimestamp(self.at_us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        document = {
            "format": FORMAT_NAME,
            "log": self.log,
            "seq": self.seq,
            "hash": self.hash,
            "key_id": self.key_id,
            "at_us": self.at_us,
            "at": at,
            "signer": self.signer,
            "signature": self.signature,
        }
        return json.dumps(document, separators=(",", ":"))


def sign(signer: Signer, log: str, head: Head, key_id: str, at_us: int) -> Checkpoint:
    unsigned = Checkpoint(log, head.seq, head.hash, key_id, at_us, signer.public.id)
    signature = base64.b64encode(signer.sign(unsigned.signed_bytes())).decode("ascii")
    return Checkpoint(log, head.seq, head.hash, key_id, at_us, signer.public.id, signature)


def parse(line: str) -> Checkpoint:
    """A checkpoint from its line; ValueError saying what is wrong (never quoting the line)."""
    try:
        document: Any = json.loads(line)
    except ValueError:
        raise ValueError("not JSON") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT_NAME:
        raise ValueError(f"not a {FORMAT_NAME} object")
    for name, length in _HEX.items():
        value = document.get(name)
        if not isinstance(value, str) or len(value) != length or not _HEX_TEXT.fullmatch(value):
            raise ValueError(f"its {name} is not {length} hex digits")
    for name in ("seq", "at_us"):
        value = document.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 62:
            raise ValueError(f"its {name} is not a whole number")
    signature = document.get("signature")
    if not isinstance(signature, str):
        raise ValueError("it has no signature")
    return Checkpoint(
        document["log"],
        document["seq"],
        document["hash"],
        document["key_id"],
        document["at_us"],
        document["signer"],
        signature,
    )


def _signature_valid(checkpoint: Checkpoint, key: PublicKey) -> bool:
    try:
        signature = base64.b64decode(checkpoint.signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    return key.verifies(signature, checkpoint.signed_bytes())


@dataclass(frozen=True, slots=True)
class Witnessed:
    """A checkpoint with a valid signature, and where it was found."""

    checkpoint: Checkpoint
    source: str

    @property
    def name(self) -> str:
        return (
            f"checkpoint {self.checkpoint.seq} (signed at {self.checkpoint.when}, witnessed in {self.source})"
        )


@dataclass(slots=True)
class Reading:
    """What the witnesses hold for one log: its latest checkpoint with a valid signature, and
    what is wrong with the others (each problem names its source and line)."""

    latest: Witnessed | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checkpoints: int = 0  # of this log, signature valid
    other_logs: int = 0  # checkpoints of other logs (a witness may keep several)


@dataclass(slots=True)
class _Unknown:
    checkpoint: Checkpoint
    where: str


def read(sources: Iterable[tuple[str, str]], log: str, keys: Sequence[PublicKey]) -> Reading:
    """Reads witnesses' checkpoints (``(source name, text)`` pairs, one checkpoint a line).

    Every line of this log must be a checkpoint whose signature verifies under one of ``keys``: a
    line that is not a checkpoint, or whose signature does not verify, is a problem (forged, or
    damaged). A line signed by a key not given is a problem when it is newer than the latest valid
    checkpoint (it cannot be checked, and it would be the one that counts), a note otherwise (a
    checkpoint from before the signing key was replaced). The last line of a source without its
    newline is a write cut short by a crash: noted, not a problem.
    """
    by_id = {key.id: key for key in keys}
    reading = Reading()
    unknown: list[_Unknown] = []
    for source, text in sources:
        lines = text.split("\n")
        torn = lines.pop() if lines else ""
        if torn.strip():
            reading.notes.append(
                f"{source} line {len(lines) + 1}: an unfinished line (a write cut short) is ignored"
            )
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{source} line {number}"
            try:
                checkpoint = parse(line)
            except ValueError as error:
                reading.problems.append(f"{where} is not a checkpoint: {error}")
                continue
            if checkpoint.log != log:
                reading.other_logs += 1
                continue
            key = by_id.get(checkpoint.signer)
            if key is None:
                unknown.append(_Unknown(checkpoint, where))
                continue
            if not _signature_valid(checkpoint, key):
                reading.problems.append(
                    f"{where}: the signature of checkpoint {checkpoint.seq} (signed at {checkpoint.when}) "
                    "does not verify: the line was forged or damaged"
                )
                continue
            reading.checkpoints += 1
            latest = reading.latest
            if latest is None or checkpoint.seq >= latest.checkpoint.seq:
                reading.latest = Witnessed(checkpoint, source)
    newest = -1 if reading.latest is None else reading.latest.checkpoint.seq
    given = ", ".join(sorted(by_id)) or "none"
    for item in unknown:
        message = (
            f"{item.where}: checkpoint {item.checkpoint.seq} is signed by key {item.checkpoint.signer}, "
            f"not by the key given ({given})"
        )
        if item.checkpoint.seq > newest:
            reading.problems.append(f"{message}: it cannot be checked")
        else:
            reading.notes.append(f"{message}: not checked (older than the latest valid checkpoint)")
    return reading
