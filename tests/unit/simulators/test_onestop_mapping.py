"""The one-stop simulator's dossier codes have the shape real systems emit (portal-dvcqg.md §3
row 23): the day's number padded to at least four digits, so a busy agency passes 9999."""

from __future__ import annotations

import datetime as dt

import pytest

from router.identifiers import is_dossier_code
from simulators.onestop.mapping import MAX_SEQUENCE, dossier_code

DAY = dt.date(2025, 7, 2)


@pytest.mark.parametrize(
    ("sequence", "code"),
    [
        (1, "000.00.00.H49-250702-0001"),
        (9999, "000.00.00.H49-250702-9999"),
        (10_000, "000.00.00.H49-250702-10000"),
        (1_234_567, "000.00.00.H49-250702-1234567"),
    ],
)
def test_the_sequence_is_padded_to_at_least_four_digits(sequence: int, code: str) -> None:
    assert dossier_code("000.00.00.H49", DAY, sequence) == code
    assert is_dossier_code(code)


def test_a_short_agency_code_makes_a_valid_dossier_code() -> None:
    assert is_dossier_code(dossier_code("H56.14", DAY, 52))


@pytest.mark.parametrize("sequence", [0, -1, MAX_SEQUENCE + 1])
def test_a_sequence_out_of_range_is_refused(sequence: int) -> None:
    with pytest.raises(ValueError, match="sequence"):
        dossier_code("000.00.00.H49", DAY, sequence)


def test_the_largest_sequence_still_makes_a_valid_code() -> None:
    assert is_dossier_code(dossier_code("000.00.00.H49", DAY, MAX_SEQUENCE))
