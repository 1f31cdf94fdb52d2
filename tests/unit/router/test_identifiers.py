"""The identifier rules as the law stands since 1 July 2025 (identifiers.md, last section) and as
real systems emit codes (portal-dvcqg.md §3 rows 23-26): accepted and refused examples."""

from __future__ import annotations

import pytest

from router.identifiers import (
    ABROAD_CODES,
    BIRTH_REGISTRATION_CODES,
    DESCRIPTIONS,
    FORMATS,
    HISTORICAL_PROVINCE_CODES,
    WIDER_FORMATS,
    is_agency_code,
    is_date_of_birth,
    is_dossier_code,
    is_personal_id,
    is_procedure_code,
    is_tax_code,
    is_tax_code_or_personal_id,
)

# --- tax codes: 10 / 13 digits, or the 12-digit personal ID where the field allows it ---------------

ENTERPRISE = ["0100109106", "0100109106-001", "0100109106001"]
PERSONAL_IDS = ["001090012345", "038185000123", "079203000001"]


@pytest.mark.parametrize("value", ENTERPRISE)
def test_an_enterprise_code_is_a_tax_code_in_every_field(value: str) -> None:
    assert is_tax_code(value)
    assert is_tax_code(value, personal_id=True)
    assert is_tax_code_or_personal_id(value)


@pytest.mark.parametrize("value", PERSONAL_IDS)
def test_a_personal_id_is_a_tax_code_only_where_the_field_allows_it(value: str) -> None:
    # TT 86/2024/TT-BTC: individuals and household businesses use their personal ID
    assert is_tax_code(value, personal_id=True)
    assert is_tax_code_or_personal_id(value)
    # an enterprise's code is never 12 digits
    assert not is_tax_code(value)


@pytest.mark.parametrize(
    "value",
    [
        "003090012345",  # 12 digits, but no province had 003: not a personal ID
        "000090012345",
        "0010900123456",  # 13 digits without a valid 10-digit head
        "00109001234",
        "001090012345 ",
        " 001090012345",
        "001 090 012 345",
        "0100109107",  # wrong check digit
        "",
    ],
)
def test_not_a_tax_code_of_any_taxpayer(value: str) -> None:
    assert not is_tax_code(value, personal_id=True)
    assert not is_tax_code_or_personal_id(value)


# --- the personal ID's first three digits -------------------------------------------------------------


def test_the_birth_registration_codes_are_the_63_historical_provinces() -> None:
    assert len(HISTORICAL_PROVINCE_CODES) == 63 == len(set(HISTORICAL_PROVINCE_CODES))
    assert frozenset(HISTORICAL_PROVINCE_CODES + ABROAD_CODES) == BIRTH_REGISTRATION_CODES
    # provinces merged in 2025 keep their codes on the IDs already issued: Hà Giang (002), Hậu
    # Giang (093), Bắc Kạn (006), Bình Dương (074) were merged away and still register births
    for code in ("002", "093", "006", "074", "001", "038", "079", "096"):
        assert is_personal_id(f"{code}190012345"), code
    for code in ("003", "005", "007", "009", "013", "016", "097", "099", "100", "999"):
        assert not is_personal_id(f"{code}190012345"), code


def test_each_province_code_is_accepted_with_any_century_and_year() -> None:
    for code in HISTORICAL_PROVINCE_CODES:
        for century_sex in "0123456789":
            assert is_personal_id(f"{code}{century_sex}99000001")


# --- agency codes: data-friendly shapes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "000.00.00.H49",  # QĐ 20/2020
        "000.00.18.G12",
        "000.00.00.H22",  # Hà Giang, merged in 2025: the shape does not know the province list
        "000.00.00.K01",  # a letter the reference does not name: a code is data
        "H56.14",  # TD's LLTP configuration
        "G09.20",  # IG
        "H56",
        "000.00.00.H49.MC01",
    ],
)
def test_agency_codes(value: str) -> None:
    assert is_agency_code(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "H56 .14",
        "H56.14\n",
        "h56.14",
        "H5",
        "H567",
        "56.14",
        "H56..14",
        "H56.14.",
        "H56.1234567",
        "H56.A.B.C.D",
        "UBND tỉnh Thanh Hóa",
        "000.00.00.H49\x00",
        "000.00.00.H49" + ".ABCDEF" * 10,
    ],
)
def test_not_agency_codes(value: str) -> None:
    assert not is_agency_code(value)


# --- dossier codes: what real systems emit, not garbage ---------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "000.00.53.H48-220921-0099",  # TT 01/2018 Art. 19 as the reference spells it
        "000.00.53.H48-220921-10000",  # TD pads the daily counter to at least 4 digits
        "000.00.00.H56-250701-52781",  # TD's random 5-digit fallback
        "G09.20-20260609-0092637",  # IG: short agency code, yyyyMMdd, 7 digits
        "H56.14-20250701-0001",
        "000.00.00.H49-20240229-0001",
        "000.00.00.H49-240229-0000",
    ],
)
def test_dossier_codes_real_systems_emit(value: str) -> None:
    assert is_dossier_code(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        " ",
        "\t",
        "-",
        "000.00.53.H48-220921-099",  # fewer than 4 digits
        "000.00.53.H48-220921-12345678901",  # more than 10: not a daily counter
        "000.00.53.H48-220931-0099",  # no 31 September
        "000.00.53.H48-20230229-0099",  # 2023 is not a leap year
        "000.00.53.H48-18990101-0099",
        "000.00.53.H48-2209210-0099",  # 7-digit date
        "000.00.53.H48 -220921-0099",
        "000.00.53.H48-220921-0099\n",
        "000.00.53.H48-220921-0099\x00",
        "000.00.53.H48-220921-00\u200b99",
        "000.00.53.H48_220921_0099",
        "220921-0099",
        "G09.20-20260609-",
        "x" * 10_000,
        "G09.20-20260609-" + "9" * 1000,
    ],
)
def test_not_dossier_codes(value: str) -> None:
    assert not is_dossier_code(value)


# --- procedure codes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1.000894", "1.003560.000.00.00.H56", "2.002621.H56", "2.002492"])
def test_procedure_codes(value: str) -> None:
    assert is_procedure_code(value)


@pytest.mark.parametrize(
    "value", ["", "1.00089", "2.002621.", "2.002621.H5", "2.002621-H56", "2.002621.H56 ", "TTHC-1"]
)
def test_not_procedure_codes(value: str) -> None:
    assert not is_procedure_code(value)


# --- dates of birth: a real date, or the year alone ---------------------------------------------------


@pytest.mark.parametrize("value", ["1985-02-11", "2000-02-29", "1985", "1900", "2025"])
def test_dates_of_birth(value: str) -> None:
    assert is_date_of_birth(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "85",
        "1985-02",  # a month without a day is no form the population database gives
        "1985-00-00",  # an invented day is refused, not read as the year alone
        "1985-02-30",
        "1900-02-29",
        "19850211",
        "1985-2-11",
        "0985",
        "1799",
        "2400",
        "1985 ",
        "١٩٨٥",
    ],
)
def test_not_dates_of_birth(value: str) -> None:
    assert not is_date_of_birth(value)


def test_every_format_is_described_and_every_wider_format_is_known() -> None:
    assert set(FORMATS) <= set(DESCRIPTIONS)
    assert set(WIDER_FORMATS) <= set(FORMATS)
    for wider, narrower in WIDER_FORMATS.items():
        examples = {
            "vn-tax-code": ENTERPRISE,
            "vn-personal-id": PERSONAL_IDS,
            "date": ["1985-02-11", "2000-02-29"],
        }
        for name in narrower:
            assert all(FORMATS[wider](v) for v in examples[name]), (wider, name)
