"""The keyed chain's arithmetic and the walk that finds breaks (pure logic, no file)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from adapters.audit.chain import (
    FORMAT,
    FORMAT_V1,
    GENESIS,
    ChainWalk,
    Head,
    as_text,
    encode,
    head_anchor,
    link_v1,
)
from adapters.audit.keys import ChainKey, KeyRing

Row = tuple[int, list[str], str, str]  # seq, fields, previous hash, hash
SECRET = b"unit test chain key, thirty-two bytes or more"
RING = KeyRing(ChainKey(SECRET))
KEY_ID = RING.current.id
record_hash = RING.link


def chain(count: int) -> list[Row]:
    rows: list[Row] = []
    previous = GENESIS
    for seq in range(1, count + 1):
        fields = as_text(
            1_795_000_000_000_000 + seq,
            [f"req-{seq}", "A/sys", "cb", "d", "h", "p", "1.000894", "x", "released", "prov"],
            False,
            KEY_ID,
        )
        digest = record_hash(fields, previous)
        rows.append((seq, fields, previous, digest))
        previous = digest
    return rows


def walk(rows: list[Row], head: Head | None = None) -> list[str]:
    checker = ChainWalk([head_anchor(head)] if head is not None else [], link=RING.link)
    found = [p for row in rows for p in checker.step(*row)]
    found += checker.finish()
    return [f"{p.seq}: {p.detail}" for p in found]


def test_the_encoding_is_length_prefixed_utf8() -> None:
    assert (
        encode(["ab", "", "ệ"])
        == FORMAT + b"\x00\x00\x00\x02ab" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x03" + "ệ".encode()
    )
    # the boundaries of values count: ("ab", "c") and ("a", "bc") hash differently
    assert record_hash(["ab", "c", KEY_ID], GENESIS) != record_hash(["a", "bc", KEY_ID], GENESIS)


def test_a_link_is_an_hmac_under_the_key_its_record_names() -> None:
    fields = as_text(5, ["r"] * 10, True, KEY_ID)
    assert fields[0] == "5" and fields[-2:] == ["1", KEY_ID]
    assert FORMAT == b"lienthong-audit/2"
    expected = hmac.new(SECRET, encode([*fields, GENESIS]), hashlib.sha256).hexdigest()
    assert record_hash(fields, GENESIS) == expected
    # without the key, SHA-256 of the same bytes is not the link
    assert hashlib.sha256(encode([*fields, GENESIS])).hexdigest() != expected


def test_a_format_1_hash_is_sha256_of_its_encoding() -> None:
    fields = as_text(5, ["r"] * 10, True)
    assert link_v1(fields, GENESIS) == hashlib.sha256(encode([*fields, GENESIS], FORMAT_V1)).hexdigest()


def test_an_intact_chain_has_no_problem_and_ends_at_its_head() -> None:
    rows = chain(5)
    checker = ChainWalk(link=RING.link)
    assert [p for row in rows for p in checker.step(*row)] == []
    assert checker.records == 5
    assert checker.head == Head(5, rows[-1][3])


def test_a_changed_field_names_the_record() -> None:
    rows = chain(5)
    seq, fields, previous, digest = rows[2]
    rows[2] = (seq, [*fields[:9], "denied", *fields[10:]], previous, digest)
    [problem] = walk(rows)
    assert problem.startswith("3: record 3 (") and "request req-3" in problem and "was changed" in problem


def test_a_changed_record_with_its_hash_recomputed_breaks_the_next_link() -> None:
    rows = chain(5)
    seq, fields, previous, _ = rows[2]
    changed = [*fields[:9], "denied", *fields[10:]]
    rows[2] = (seq, changed, previous, record_hash(changed, previous))
    [problem] = walk(rows)
    assert problem.startswith("4: record 4 (") and "does not follow record 3" in problem


def test_a_removed_record_is_named_once() -> None:
    rows = chain(5)
    del rows[2]
    assert walk(rows) == ["3: record 3 is missing: the log goes from record 2 to 4"]


def test_removed_records_are_named_as_a_range() -> None:
    rows = chain(6)
    del rows[1:4]
    assert walk(rows) == ["2: records 2 to 4 are missing: the log goes from record 1 to 5"]


def test_the_first_records_removed() -> None:
    rows = chain(4)[2:]
    assert walk(rows) == ["1: records 1 to 2 are missing: the log goes from record 0 to 3"]


def test_a_removal_hidden_by_renumbering_breaks_one_link() -> None:
    rows = chain(5)
    del rows[2]
    rows = [(n, fields, previous, digest) for n, (_, fields, previous, digest) in enumerate(rows, 1)]
    [problem] = walk(rows)
    assert (
        problem.startswith("3: record 3 (")
        and "request req-4" in problem
        and "does not follow record 2" in problem
    )


def test_an_inserted_record_is_found() -> None:
    rows = chain(4)
    forged_fields = as_text(1, ["forged"] * 10, False, KEY_ID)
    forged = record_hash(forged_fields, rows[1][3])  # chained onto record 2, hash recomputed
    rows.insert(2, (3, forged_fields, rows[1][3], forged))
    rows = [(n, fields, previous, digest) for n, (_, fields, previous, digest) in enumerate(rows, 1)]
    [problem] = walk(rows)
    assert (
        problem.startswith("4: record 4 (")
        and "request req-3" in problem
        and "does not follow record 3" in problem
    )


def test_two_swapped_records_are_both_named() -> None:
    rows = chain(6)
    (s3, *r3), (s5, *r5) = rows[2], rows[4]
    rows[2], rows[4] = (s3, *r5), (s5, *r3)  # type: ignore[assignment]
    problems = walk(rows)
    # each link around the two is broken; the records that moved are named with their requests
    assert [p.split(":")[0] for p in problems] == ["3", "4", "5", "6"]
    assert "request req-5" in problems[0] and "request req-3" in problems[2]
    assert all("does not follow" in p for p in problems)


def test_a_record_not_chained_to_the_start() -> None:
    rows = chain(2)
    seq, fields, _, _ = rows[0]
    other = "1" * 64
    rows[0] = (seq, fields, other, record_hash(fields, other))
    problems = walk(rows)
    assert len(problems) == 2  # the first does not follow the start, the second does not follow the first
    assert "does not follow the start of the log" in problems[0]


def test_the_head_of_an_earlier_verify_is_checked() -> None:
    rows = chain(5)
    assert walk(rows, Head(5, rows[4][3])) == []
    assert walk(rows, Head(3, rows[2][3])) == []
    # the newest records removed: only the head shows it
    assert walk(rows[:3], Head(5, rows[4][3])) == [
        "4: the log ends at record 3, before the head 5: its newest records were removed"
    ]
    # the head's record rewritten with a recomputed hash
    [problem] = walk(rows, Head(5, "a" * 64))
    assert problem.startswith("5: record 5 (") and "is not the record of the head" in problem


def test_heads_print_and_parse() -> None:
    head = Head(12, "ab" * 32)
    assert Head.parse(str(head)) == head
    for bad in ("12", "x:" + "ab" * 32, "12:" + "AB" * 32, "12:abc"):
        with pytest.raises(ValueError, match="not a chain head"):
            Head.parse(bad)


def test_a_chain_recomputed_without_the_key_is_named_from_its_first_change() -> None:
    # the forger changes record 3, then recomputes every hash after it with plain SHA-256
    rows = chain(6)
    previous = rows[1][3]
    for n in range(2, 6):
        seq, fields, _, _ = rows[n]
        if n == 2:
            fields = [*fields[:9], "denied", *fields[10:]]
        digest = hashlib.sha256(encode([*fields, previous])).hexdigest()
        rows[n] = (seq, fields, previous, digest)
        previous = digest
    problems = sorted(walk(rows, Head(6, "f" * 64)), key=lambda p: int(p.split(":")[0]))
    assert problems[0].startswith("3: record 3 (") and "was changed" in problems[0]
    assert problems[1].startswith("4: records 4 to 6 do not match their hashes either")
    assert "recomputed from record 3 on by someone without the chain key" in problems[1]
    assert problems[2].startswith("6: record 6 (") and "is not the record of the head 6" in problems[2]
    assert len(problems) == 3
