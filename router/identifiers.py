"""Vietnamese e-government identifiers: what each one looks like, checked without I/O.

The core checks the subjects of evidence queries and access reports with them; the schemas use
them as JSON Schema ``format`` values (:mod:`schemas.formats`), by the names of :data:`FORMATS`.
Each identifier has a pure checker (``is_personal_id(s) -> bool`` ...), collected in
:data:`FORMATS`. Where the rule is a regular language, the checker *is* a regular expression and
:data:`PATTERNS` publishes it: the registry compiles those formats into native regexes of the hot
path validator instead of calling back into Python (a callback per string costs more than the
rest of the validation, see ``bench/validation.py``). The tax code and the date of birth keep
Python checkers: a check digit and a calendar of any year are not regular languages.

All expressions use ``[0-9]``, never ``\\d``: ``\\d`` also matches other scripts' digits
(``"٠٠١..."``) in both Python and Rust.

The rules follow ``identifiers.md`` as the law stands since 1 July 2025 (its last section) and
what real systems emit (``portal-dvcqg.md`` §3 rows 23-26, §5); docs/identifiers.md gives the
source of each. Decisions the reference leaves open:

- ``vn-personal-id``: the 12-digit number of the CCCD card. Its first three digits are where the
  birth was registered: one of the 63 provinces as they were before the 2025 mergers (the number
  never changes when provinces merge, so the 34 provinces of 2025 add no code), or a country for a
  birth registered abroad. No source in reach lists those country codes: :data:`ABROAD_CODES` is
  empty until one does. The century/sex digit and the year may be any digit (the card encodes
  centuries up to 2399). The old 9-digit CMND is a separate format, ``vn-old-id``.
- ``vn-tax-code``: an enterprise's (or organisation's) code: 10 digits with a valid check digit,
  or 13 = 10 + branch 001–999, also written with a dash (``0100109106-001``). An enterprise's
  code is never 12 digits.
- ``vn-tax-code-or-personal-id``: a field that also holds the tax code of individuals, household
  businesses and individual businesses, which is their 12-digit personal ID since 1 July 2025
  (Thông tư 86/2024/TT-BTC); the 10-digit personal codes issued before stay valid. Each contract
  field says which of the two formats it allows.
- ``vn-agency-code``: an identifier kept as data, not tied to any list of provinces (what became
  of the codes of merged provinces is not known). Either the QĐ 20/2020 code ``000.00.00.H49``,
  or the short form in use, a letter and two digits (``H56``, ``G09``); either may be followed
  by up to three ``.``-separated segments of 1–6 upper-case letters or digits (``H56.14``,
  ``G09.20``, ``000.00.00.H49.MC01``), at most 34 characters (the national data exchange's field
  holds 35). Free text is refused.
- ``vn-dossier-code``: ``<agency code>-<date>-<sequence>``: the date of receipt as ``YYMMDD`` or
  ``YYYYMMDD``, a real date of the years 2000–2099; the daily sequence at least 4 digits and at
  most 10 (real systems pad it to *at least* four: 10,000+ happen, and seven-digit sequences
  such as ``G09.20-20260609-0092637`` are issued). Empty strings, spaces, control characters
  and absurd lengths do not fit the shape.
- ``vn-procedure-code``: national ``1.000894``, or as published by an agency, the national code
  followed by an agency code of either form: ``1.003560.000.00.00.H56``, ``2.002621.H56``.
- ``vn-date-of-birth``: an RFC 3339 full date, or the year alone (``yyyy``), as the population
  database holds some people's; a year from 1800 to 2399 (the personal ID encodes 1900–2399, and
  older records exist). A missing day or month is never invented.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import date
from types import MappingProxyType

import stdnum.vn.mst

# --- the regular languages -------------------------------------------------------------------

# The 63 provinces' codes of birth registration as they stood before the 2025 mergers, which do
# not change them (Thông tư 07/2016/TT-BCA; identifiers.md, last section).
# fmt: off
HISTORICAL_PROVINCE_CODES: tuple[str, ...] = (
    "001", "002", "004", "006", "008", "010", "011", "012", "014", "015", "017", "019", "020",
    "022", "024", "025", "026", "027", "030", "031", "033", "034", "035", "036", "037", "038",
    "040", "042", "044", "045", "046", "048", "049", "051", "052", "054", "056", "058", "060",
    "062", "064", "066", "067", "068", "070", "072", "074", "075", "077", "079", "080", "082",
    "083", "084", "086", "087", "089", "091", "092", "093", "094", "095", "096",
)
# fmt: on
# The country codes of births registered abroad: no source in reach lists them (see above).
ABROAD_CODES: tuple[str, ...] = ()
BIRTH_REGISTRATION_CODES: frozenset[str] = frozenset(HISTORICAL_PROVINCE_CODES + ABROAD_CODES)
_REGISTRATION = "(?:" + "|".join(sorted(BIRTH_REGISTRATION_CODES)) + ")"
PERSONAL_ID = f"{_REGISTRATION}[0-9]{{9}}"
OLD_ID = "[0-9]{9}"
AGENCY_CODE_STANDARD = r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}"
AGENCY_CODE_SHORT = "[A-Z][0-9]{2}"
_AGENCY_HEAD = f"(?:{AGENCY_CODE_STANDARD}|{AGENCY_CODE_SHORT})"
AGENCY_CODE = rf"{_AGENCY_HEAD}(?:\.[A-Z0-9]{{1,6}}){{0,3}}"
# YYMMDD as a real date of 2000–2099. In that range a year is a leap year exactly when YY is a
# multiple of 4 (2000 is one), which is what the last alternative spells out.
_YYMMDD = (
    "(?:[0-9]{2}(?:"
    "(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)"
    "|02(?:0[1-9]|1[0-9]|2[0-8]))"
    "|(?:[02468][048]|[13579][26])0229)"
)
_RECEIVED_ON = f"(?:20)?{_YYMMDD}"
_SEQUENCE = "[0-9]{4,10}"
DOSSIER_CODE = f"{AGENCY_CODE}-{_RECEIVED_ON}-{_SEQUENCE}"
PROCEDURE_CODE = rf"[1-9]\.[0-9]{{6}}(?:\.{AGENCY_CODE})?"
_TAX_CODE_SHAPE = "[0-9]{10}(?:-?[0-9]{3})?"
_DATE_OF_BIRTH = "([0-9]{4})(?:-([0-9]{2})-([0-9]{2}))?"

_personal_id = re.compile(PERSONAL_ID)
_old_id = re.compile(OLD_ID)
_agency_code = re.compile(AGENCY_CODE)
_procedure_code = re.compile(PROCEDURE_CODE)
_tax_code_shape = re.compile(_TAX_CODE_SHAPE)
_date_of_birth = re.compile(_DATE_OF_BIRTH)
# The dossier checker reads the date with the calendar rather than trusting the regex above; the
# tests prove the two agree on every date.
_dossier_code = re.compile(rf"({AGENCY_CODE})-((?:20)?)([0-9]{{2}})([0-9]{{2}})([0-9]{{2}})-{_SEQUENCE}")


# --- the checkers ----------------------------------------------------------------------------


def is_personal_id(value: str) -> bool:
    """The 12-digit personal ID number (số định danh cá nhân, CCCD)."""
    return _personal_id.fullmatch(value) is not None


def is_old_id(value: str) -> bool:
    """The old 9-digit identity card number (CMND)."""
    return _old_id.fullmatch(value) is not None


def is_tax_code(value: str, *, personal_id: bool = False) -> bool:
    """A tax code (mã số thuế): an enterprise's 10 digits with its check digit, or 13 with a
    branch. With ``personal_id``, also a 12-digit personal ID: the tax code of an individual or
    a household business since 1 July 2025, for the fields whose contract allows it."""
    if personal_id and is_personal_id(value):
        return True
    # stdnum also strips spaces and dots before checking; the shape test keeps those out.
    return _tax_code_shape.fullmatch(value) is not None and _mst_is_valid(value)


def is_tax_code_or_personal_id(value: str) -> bool:
    """Any taxpayer's tax code: an enterprise's, or the 12-digit personal ID of an individual or
    a household business (``is_tax_code(value, personal_id=True)``)."""
    return is_tax_code(value, personal_id=True)


# stdnum takes ~5 µs a code, more than validating the rest of an event; businesses file many
# dossiers under the same code, so the answers (pure, a few bytes each) are remembered.
@functools.lru_cache(maxsize=16_384)
def _mst_is_valid(value: str) -> bool:
    return bool(stdnum.vn.mst.is_valid(value))


def is_agency_code(value: str) -> bool:
    """The agency code (mã định danh cơ quan): QĐ 20/2020 or short, optionally with sub-units."""
    return _agency_code.fullmatch(value) is not None


def is_dossier_code(value: str) -> bool:
    """The dossier code (mã hồ sơ): agency, date of receipt, daily sequence."""
    match = _dossier_code.fullmatch(value)
    if match is None:
        return False
    _, _, yy, mm, dd = match.groups()
    try:
        date(2000 + int(yy), int(mm), int(dd))
    except ValueError:
        return False
    return True


def is_procedure_code(value: str) -> bool:
    """The administrative procedure code (mã TTHC), national or as published by an agency."""
    return _procedure_code.fullmatch(value) is not None


def is_date_of_birth(value: str) -> bool:
    """A date of birth: a real ``yyyy-mm-dd``, or the year alone (``yyyy``) where the source
    knows no more."""
    match = _date_of_birth.fullmatch(value)
    if match is None:
        return False
    year, month, day = match.groups()
    if not 1800 <= int(year) <= 2399:
        return False
    if month is None:
        return True
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


FormatCheck = Callable[[str], bool]

FORMATS: Mapping[str, FormatCheck] = MappingProxyType(
    {
        "vn-personal-id": is_personal_id,
        "vn-old-id": is_old_id,
        "vn-tax-code": is_tax_code,
        "vn-tax-code-or-personal-id": is_tax_code_or_personal_id,
        "vn-agency-code": is_agency_code,
        "vn-dossier-code": is_dossier_code,
        "vn-procedure-code": is_procedure_code,
        "vn-date-of-birth": is_date_of_birth,
    }
)

# The formats that are regular languages, as expressions matching the whole string; each accepts
# exactly the strings its checker in FORMATS accepts (tests/unit/schemas/test_schema_formats.py).
PATTERNS: Mapping[str, str] = MappingProxyType(
    {
        "vn-personal-id": f"^(?:{PERSONAL_ID})$",
        "vn-old-id": f"^(?:{OLD_ID})$",
        "vn-agency-code": f"^(?:{AGENCY_CODE})$",
        "vn-dossier-code": f"^(?:{DOSSIER_CODE})$",
        "vn-procedure-code": f"^(?:{PROCEDURE_CODE})$",
    }
)

# Formats that accept every value of other formats: a field may move from one of the narrower
# formats to the wider one in a new version without refusing what the old version accepted
# (schemas.compatibility proves BACKWARD with it).
WIDER_FORMATS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "vn-tax-code-or-personal-id": frozenset({"vn-tax-code", "vn-personal-id"}),
        "vn-date-of-birth": frozenset({"date"}),
    }
)

# What a caller is told when a value is not of a format.
DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "vn-personal-id": "a 12-digit personal ID number: the code of the province (one of the 63 "
        "before the 2025 mergers) or country of birth registration, century/sex digit, year of "
        "birth, 6 digits",
        "vn-old-id": "a 9-digit identity card (CMND) number",
        "vn-tax-code": "an enterprise's tax code: 10 digits with a valid check digit, optionally followed "
        "by a 3-digit branch (0100109106 or 0100109106-001); never a 12-digit personal ID",
        "vn-tax-code-or-personal-id": "a tax code: 10 digits with a valid check digit, optionally "
        "followed by a 3-digit branch (0100109106-001), or the 12-digit personal ID that is the tax "
        "code of an individual or a household business",
        "vn-agency-code": "an agency code such as 000.00.00.H49, H56.14 or G09.20",
        "vn-dossier-code": "a dossier code <agency code>-<YYMMDD or YYYYMMDD>-<sequence of 4 to 10 "
        "digits> with a real date, such as 000.00.53.H48-220921-0099 or G09.20-20260609-0092637",
        "vn-procedure-code": "a procedure code such as 1.000894, 1.003560.000.00.00.H56 or 2.002621.H56",
        "vn-date-of-birth": "a date of birth: yyyy-mm-dd, or the year alone (yyyy) where only the year "
        "is known",
    }
)
