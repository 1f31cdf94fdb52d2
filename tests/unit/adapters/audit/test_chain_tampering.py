"""Several tamperings in one log: each is reported at its record, none hides another, and a single
change is one problem (pure logic over :class:`~adapters.audit.chain.ChainWalk`, no file)."""

from __future__ import annotations

from tests.unit.adapters.audit.test_chain import KEY_ID, Row, chain, record_hash, walk


def renumbered(rows: list[Row]) -> list[Row]:
    return [(n, fields, previous, digest) for n, (_, fields, previous, digest) in enumerate(rows, 1)]


def changed(row: Row, *, rehash: bool = False) -> Row:
    seq, fields, previous, digest = row
    fields = [*fields[:9], "denied", *fields[10:]]
    return (seq, fields, previous, record_hash(fields, previous) if rehash else digest)


def numbers(problems: list[str]) -> list[str]:
    return [p.split(":")[0] for p in problems]


def test_a_removal_after_a_changed_record_is_not_hidden() -> None:
    rows = chain(6)
    rows[1] = changed(rows[1])
    del rows[2]
    problems = walk(renumbered(rows))
    assert numbers(problems) == ["2", "3"]
    assert "was changed" in problems[0]
    assert (
        "request req-4" in problems[1]
        and "does not follow record 2: a record between them was removed" in problems[1]
    )


def test_a_removal_after_a_record_changed_with_a_wrong_hash_is_not_hidden() -> None:
    rows = chain(6)
    seq, fields, previous, _ = changed(rows[1])
    rows[1] = (seq, fields, previous, record_hash(fields, "1" * 64))  # recomputed over the wrong link
    del rows[2]
    problems = walk(renumbered(rows))
    assert numbers(problems) == ["2", "3"]
    assert "the hash of record 2 was overwritten when it was changed" in problems[1]


def test_a_changed_record_does_not_hide_a_removal_before_it() -> None:
    rows = chain(6)
    del rows[1]
    rows = renumbered(rows)
    rows[1] = changed(rows[1])
    problems = walk(rows)
    assert numbers(problems) == ["2", "2"]
    assert "was changed" in problems[0] and "does not follow record 1" in problems[1]


def test_a_change_with_its_hash_recomputed_and_a_later_removal_are_both_named() -> None:
    rows = chain(6)
    rows[1] = changed(rows[1], rehash=True)
    del rows[3]
    problems = walk(renumbered(rows))
    assert numbers(problems) == ["3", "4"]
    assert "request req-3" in problems[0] and "request req-5" in problems[1]


def test_a_removal_next_to_a_rehashed_change_breaks_one_link_and_is_named_as_possible() -> None:
    # both tamperings break the same link, and the hashes they replaced are gone: the chain shows
    # one break, and its message names a removal as one of its causes
    rows = chain(6)
    rows[1] = changed(rows[1], rehash=True)
    del rows[2]
    [problem] = walk(renumbered(rows))
    assert problem.startswith("3: record 3 (") and "a record between them was removed" in problem


def test_a_single_change_is_one_problem() -> None:
    rows = chain(5)
    rows[1] = changed(rows[1])
    [problem] = walk(rows)
    assert problem.startswith("2: record 2 (") and "was changed" in problem


def test_an_overwritten_hash_is_one_problem() -> None:
    rows = chain(5)
    seq, fields, previous, _ = rows[1]
    rows[1] = (seq, fields, previous, "a" * 64)
    [problem] = walk(rows)
    assert problem.startswith("2: record 2 (") and "was changed" in problem


def test_an_overwritten_previous_hash_is_one_problem() -> None:
    rows = chain(5)
    seq, fields, _, digest = rows[1]
    rows[1] = (seq, fields, "b" * 64, digest)
    [problem] = walk(rows)
    assert problem.startswith("2: record 2 (") and "its previous_hash was overwritten" in problem


def test_a_removal_alone_is_one_problem() -> None:
    rows = chain(5)
    del rows[1]
    assert walk(rows) == ["2: record 2 is missing: the log goes from record 1 to 3"]
    [problem] = walk(renumbered(rows))
    assert problem.startswith("2: record 2 (") and "request req-3" in problem


def test_an_inserted_record_is_named_by_the_one_after_it() -> None:
    rows = chain(4)
    forged_fields = [*rows[1][1][:1], *["forged"] * 10, "0", KEY_ID]
    rows.insert(2, (0, forged_fields, rows[1][3], record_hash(forged_fields, rows[1][3])))
    [problem] = walk(renumbered(rows))
    assert problem.startswith("4: record 4 (") and "it follows record 2, so record 3 was inserted" in problem


def test_adjacent_swapped_records_are_not_taken_for_an_insertion() -> None:
    rows = chain(5)
    rows[2], rows[3] = rows[3], rows[2]
    problems = walk(renumbered(rows))
    assert numbers(problems) == ["3", "4", "5"]
    assert not any("inserted between" in p for p in problems)


def test_each_of_a_sequence_of_tamperings_is_reported() -> None:
    rows = chain(12)
    rows[1] = changed(rows[1])  # req-2 changed
    rows[4] = changed(rows[4], rehash=True)  # req-5 changed, hash recomputed
    del rows[7]  # req-8 removed
    del rows[2]  # req-3 removed, right after the changed record
    rows = renumbered(rows)
    rows[7], rows[8] = rows[8], rows[7]  # req-10 and req-11 swapped
    problems = walk(renumbered(rows))
    assert numbers(problems) == ["2", "3", "5", "7", "8", "9", "10"]
    assert "req-2" in problems[0] and "was changed" in problems[0]
    assert "req-4" in problems[1] and "does not follow record 2" in problems[1]
    assert "req-6" in problems[2] and "does not follow record 4" in problems[2]
    assert "req-9" in problems[3] and "does not follow record 6" in problems[3]
    assert "req-11" in problems[4] and "req-10" in problems[5] and "req-12" in problems[6]
