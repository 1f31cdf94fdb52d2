"""The Vietnamese identifier formats, and the native patterns that stand for them on the hot path."""

from __future__ import annotations

import random

import jsonschema_rs
import pytest

from router.identifiers import (
    FORMATS,
    PATTERNS,
    is_agency_code,
    is_dossier_code,
    is_old_id,
    is_personal_id,
    is_procedure_code,
    is_tax_code,
)
from schemas.formats import format_checker, is_date_time, is_uri

ARABIC_INDIC = "".join(chr(0x0660 + int(d)) for d in "001090012345")


@pytest.mark.parametrize("value", ["001090012345", "079203000001", "096199999999", "022195001234"])
def test_personal_ids(value: str) -> None:
    assert is_personal_id(value)


@pytest.mark.parametrize(
    "value",
    [
        "000090012345",  # province 000 does not exist
        "097090012345",  # nor 097
        "003090012345",  # nor 003: no province had it
        "100090012345",
        "00109001234",  # 11 digits
        "0010900123456",  # 13 digits
        "00109001234a",
        "001090012345\n",
        " 001090012345",
        ARABIC_INDIC,  # digits of another script
        "",
    ],
)
def test_not_personal_ids(value: str) -> None:
    assert not is_personal_id(value)


def test_old_ids_are_nine_digits() -> None:
    assert is_old_id("183456789")
    assert not is_old_id("18345678")
    assert not is_old_id("001090012345")
    assert not is_personal_id("183456789")


@pytest.mark.parametrize(
    "value",
    ["0100109106", "0100109106-001", "0100109106001", "0100233488", "0314409058-002", "0100109106-999"],
)
def test_tax_codes(value: str) -> None:
    assert is_tax_code(value)


@pytest.mark.parametrize(
    "value",
    [
        "0100109107",  # wrong check digit
        "0100109106-000",  # branch 000 does not exist
        "0100109106-01",
        "0100109106 001",  # only the dash form is accepted
        "01.00.109.106",
        "010010910",
        "01001091061",
        "0100000000",  # stdnum: the sequential part 0000000 is not issued
        "",
    ],
)
def test_not_tax_codes(value: str) -> None:
    assert not is_tax_code(value)


def test_the_tax_code_check_digit_is_the_one_of_the_reference() -> None:
    # identifiers.md: weights (31, 29, 23, 19, 17, 13, 7, 5, 3), check = 10 - (sum mod 11)
    weights = (31, 29, 23, 19, 17, 13, 7, 5, 3)
    rng = random.Random(7)
    for _ in range(300):
        body = f"{rng.randrange(1, 99):02d}{rng.randrange(1, 10_000_000):07d}"
        check = 10 - sum(w * int(d) for w, d in zip(weights, body, strict=True)) % 11
        accepted = [digit for digit in range(10) if is_tax_code(f"{body}{digit}")]
        assert accepted == ([check] if check < 10 else [])


@pytest.mark.parametrize(
    "value",
    [
        "000.00.00.H49",
        "000.00.18.G12",
        "000.00.53.H48",
        "000.00.00.H49.MC01",
        "000.00.00.H49.A.B.CDEF12",
        "H56.14",
        "G09.20",
        "H49",
    ],
)
def test_agency_codes(value: str) -> None:
    assert is_agency_code(value)
    assert len(value) <= 35


@pytest.mark.parametrize(
    "value",
    [
        "h49",
        "H4",
        "000.00.00.h49",
        "00.00.00.H49",
        "000.00.00.H49.",
        "000.00.00.H49.ABCDEFG",  # a sub-unit segment has at most 6 characters
        "000.00.00.H49.A.B.C.D",  # at most 3 of them
        "000-00-00-H49",
        "UBND tỉnh Quảng Ninh",
    ],
)
def test_not_agency_codes(value: str) -> None:
    assert not is_agency_code(value)


@pytest.mark.parametrize(
    "value",
    [
        "000.00.53.H48-220921-0099",
        "000.00.00.H49-240229-0001",  # 2024 is a leap year
        "000.00.00.H49-000229-0001",  # so is 2000
        "000.00.00.H49-991231-9999",
        "000.00.00.H49.MC01-240502-0017",
        "000.00.00.H49-220921-0000",
        "000.00.00.H49-20220921-0099",
        "H49-220921-0099",
    ],
)
def test_dossier_codes(value: str) -> None:
    assert is_dossier_code(value)


@pytest.mark.parametrize(
    "value",
    [
        "000.00.00.H49-230229-0001",  # 2023 is not a leap year
        "000.00.00.H49-220931-0001",
        "000.00.00.H49-221301-0001",
        "000.00.00.H49-220900-0001",
        "000.00.00.H49-220921-099",
        "000.00.00.H49-19990921-0099",
        "H4-220921-0099",
        "000.00.00.H49220921-0099",
    ],
)
def test_not_dossier_codes(value: str) -> None:
    assert not is_dossier_code(value)


@pytest.mark.parametrize("value", ["1.000894", "2.002156", "1.003560.000.00.00.H56", "1.003560.H56"])
def test_procedure_codes(value: str) -> None:
    assert is_procedure_code(value)


@pytest.mark.parametrize(
    "value",
    ["1.00089", "1.0008945", "0.000894", "1.003560.h56", "1.000894 ", "1.003560.000.00.00.H56.X1.A.B.C"],
)
def test_not_procedure_codes(value: str) -> None:
    assert not is_procedure_code(value)


# --- the native patterns accept exactly what the checkers accept -------------------------------------


def _native(pattern: str) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for({"type": "string", "pattern": pattern})


def _mutations(value: str) -> set[str]:
    out = {value, value + "\n", "\n" + value, value + "0", value[:-1], value.lower(), value.upper()}
    for i in range(len(value)):
        out.add(value[:i] + value[i + 1 :])
        out.add(value[:i] + value[i] + value[i:])
        for c in "0951.-AHz٠ ":
            out.add(value[:i] + c + value[i + 1 :])
    return out


SEEDS = {
    "vn-personal-id": ["001090012345", "096199999999", "183456789"],
    "vn-old-id": ["183456789"],
    "vn-agency-code": ["000.00.00.H49", "000.00.00.H49.MC01.A.B", "H56.14", "G09.20"],
    "vn-dossier-code": [
        "000.00.53.H48-220921-0099",
        "000.00.00.H49.X1-240229-0010",
        "G09.20-20260609-0092637",
        "H56.14-20240229-12345",
    ],
    "vn-procedure-code": ["1.000894", "1.003560.000.00.00.H56", "2.002621.H56"],
}


@pytest.mark.parametrize("name", sorted(PATTERNS))
def test_native_pattern_agrees_with_the_checker(name: str) -> None:
    native = _native(PATTERNS[name])
    corpus = {m for seed in SEEDS[name] for m in _mutations(seed)}
    assert any(FORMATS[name](v) for v in corpus)
    assert any(not FORMATS[name](v) for v in corpus)
    disagreements = [v for v in corpus if native.is_valid(v) != FORMATS[name](v)]
    assert disagreements == []


def test_native_dossier_pattern_knows_the_calendar() -> None:
    # Every YYMMDD, including impossible months and days.
    native = _native(PATTERNS["vn-dossier-code"])
    for yy in range(100):
        for mm in range(14):
            for dd in range(33):
                for century in ("", "20", "19"):
                    code = f"000.00.00.H49-{century}{yy:02d}{mm:02d}{dd:02d}-0001"
                    assert native.is_valid(code) == is_dossier_code(code), code


def test_only_the_tax_code_and_the_date_of_birth_need_python() -> None:
    assert set(FORMATS) - set(PATTERNS) == {"vn-tax-code", "vn-tax-code-or-personal-id", "vn-date-of-birth"}


# --- the reference validator's extras -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("2024-05-01T08:30:00+07:00", True),
        ("2024-05-01t08:30:00.123z", True),
        ("2016-12-31T23:59:60Z", True),
        ("2024-05-01T08:30:00", False),  # no time zone
        ("2024-05-01 08:30:00+07:00", False),
        ("2023-02-29T08:30:00Z", False),
        ("2024-05-01T24:00:00Z", False),
        ("20240501083000", False),
    ],
)
def test_date_time(value: str, valid: bool) -> None:
    assert is_date_time(value) is valid


def test_uri() -> None:
    assert is_uri("https://dichvucong.gov.vn/p/home.html?x=1#a")
    assert is_uri("urn:lienthong:schema:common:1")
    assert not is_uri("dichvucong.gov.vn/home")
    assert not is_uri("https://a b")
    assert not is_uri("")


def test_format_checker_checks_our_formats_and_ignores_non_strings() -> None:
    checker = format_checker()
    assert checker.conforms("0100109106-001", "vn-tax-code")
    assert not checker.conforms("0100109107", "vn-tax-code")
    assert checker.conforms(12, "vn-personal-id")
    assert not checker.conforms("2024-05-01", "date-time")
