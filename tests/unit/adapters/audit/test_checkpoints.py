"""Signed checkpoints: their line, their signature, and reading a witness's lines back."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from adapters.audit import checkpoints
from adapters.audit.chain import Head, encode
from adapters.audit.checkpoints import parse, read, sign
from adapters.audit.signing import Signer

SIGNER = Signer(Ed25519PrivateKey.from_private_bytes(b"\x01" * 32))
OTHER = Signer(Ed25519PrivateKey.from_private_bytes(b"\x02" * 32))
LOG = "ab" * 16
KEY_ID = "cd" * 8


def checkpoint(seq: int, signer: Signer = SIGNER, log: str = LOG) -> checkpoints.Checkpoint:
    return sign(signer, log, Head(seq, f"{seq:064x}"), KEY_ID, 1_795_000_000_000_000 + seq)


def lines(*items: checkpoints.Checkpoint | str) -> str:
    return "".join((item if isinstance(item, str) else item.line()) + "\n" for item in items)


def test_a_checkpoint_is_one_json_line_signed_over_its_encoding() -> None:
    made = checkpoint(12)
    document = json.loads(made.line())
    assert document["format"] == "lienthong-audit-checkpoint/1" and document["seq"] == 12
    assert document["at"] == "2026-11-18T11:06:40.000012Z"
    signed = encode([LOG, "12", f"{12:064x}", KEY_ID, str(made.at_us), SIGNER.public.id], checkpoints.FORMAT)
    assert made.signed_bytes() == signed
    assert SIGNER.public.verifies(base64.b64decode(made.signature), signed)
    assert parse(made.line()) == made


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{", "not JSON"),
        ('{"format": "other"}', "not a lienthong-audit-checkpoint/1 object"),
        (checkpoint(1).line().replace('"seq":1', '"seq":"1"'), "its seq is not a whole number"),
        (checkpoint(1).line().replace(f'"log":"{LOG}"', '"log":"zz"'), "its log is not 32 hex digits"),
    ],
)
def test_what_is_not_a_checkpoint_says_why(line: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse(line)


def test_the_latest_valid_checkpoint_of_the_log_counts() -> None:
    text = lines(checkpoint(0), checkpoint(5), checkpoint(9, log="ef" * 16), checkpoint(8))
    reading = read([("w.jsonl", text)], LOG, [SIGNER.public])
    assert reading.latest is not None and reading.latest.checkpoint.seq == 8
    assert reading.latest.name.startswith(
        "checkpoint 8 (signed at 2026-11-18T11:06:40Z, witnessed in w.jsonl"
    )
    assert (reading.problems, reading.checkpoints, reading.other_logs) == ([], 3, 1)


def test_a_forged_last_line_is_reported_and_the_last_genuine_one_counts() -> None:
    genuine = checkpoint(8)
    # whoever wrote it has no signing key: the head of a rewritten log, the signature copied
    forged = json.loads(checkpoint(10).line()) | {"signature": genuine.signature}
    reading = read([("w.jsonl", lines(genuine, json.dumps(forged)))], LOG, [SIGNER.public])
    [problem] = reading.problems
    assert problem.startswith("w.jsonl line 2: the signature of checkpoint 10")
    assert "does not verify: the line was forged or damaged" in problem
    assert reading.latest is not None and reading.latest.checkpoint.seq == 8


def test_a_newer_checkpoint_under_another_key_cannot_be_checked() -> None:
    text = lines(checkpoint(3, OTHER), checkpoint(5), checkpoint(7, OTHER))
    reading = read([("w.jsonl", text)], LOG, [SIGNER.public])
    [problem] = reading.problems
    assert problem.startswith(f"w.jsonl line 3: checkpoint 7 is signed by key {OTHER.public.id}")
    assert "it cannot be checked" in problem
    [note] = reading.notes  # an older one: from before the signing key was replaced
    assert note.startswith("w.jsonl line 1: checkpoint 3")


def test_an_unfinished_last_line_is_a_note_and_garbage_is_a_problem() -> None:
    text = lines(checkpoint(2), "not json at all") + checkpoint(3).line()[:40]
    reading = read([("w.jsonl", text)], LOG, [SIGNER.public])
    assert reading.problems == ["w.jsonl line 2 is not a checkpoint: not JSON"]
    assert reading.notes == ["w.jsonl line 3: an unfinished line (a write cut short) is ignored"]
    assert reading.latest is not None and reading.latest.checkpoint.seq == 2
