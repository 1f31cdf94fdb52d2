"""Vietnamese e-government identifiers: what each one looks like, checked without I/O.

The core checks the subjects of evidence queries and access reports with them; the schemas use
them as JSON Schema ``format`` values (:mod:`schemas.formats`), by the names of :data:`FORMATS`.
Each identifier has a pure checker (``is_personal_id(s) -> bool`` ...), collected in
:data:`FORMATS`. Where the rule is a regular language, the checker *is* a regular expression and
:data:`PATTERNS` publishes it: the registry compiles those formats into native regexes of the hot
path validator instead of calling back into Python (a callback per string costs more than the
rest of the validation, see ``bench/validation.py``). The tax code keeps a Python checker: its
check digit is not a regular language.

All expressions use ``[0-9]``, never ``\\d``: ``\\d`` also matches other scripts' digits
(``"٠٠١..."``) in both Python and Rust.

Decisions (the reference, ``identifiers.md``, leaves them open):

- ``vn-personal-id``: the 12-digit number of the CCCD card, with a birth-registration province
  code 001–096; the century/sex digit and the year may be any digit (the card encodes centuries
  up to 2399). The old 9-digit CMND is a separate format, ``vn-old-id``.
- ``vn-tax-code``: 10 digits with a valid check digit, or 13 = 10 + branch 001–999, also written
  with a dash (``0100109106-001``). No other separators: the portal sends the digits as they are.
- ``vn-agency-code``: the QĐ 20/2020 code ``000.00.00.H49``. Longer codes, which the national
  data exchange carries in a 35-character field, are accepted as that code followed by up to three
  ``.``-separated sub-unit segments of 1–6 upper-case letters or digits (at most 34 characters):
  ``000.00.00.H49.MC01``. Anything else, free text in particular, is refused.
- ``vn-dossier-code``: ``<agency code>-<YYMMDD>-<sequence>`` where YYMMDD is a real date of the
  years 2000–2099 and the daily sequence is 0001–9999.
- ``vn-procedure-code``: national ``1.000894``, or as published by an agency, the national code
  followed by the standard agency code: ``1.003560.000.00.00.H56``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from datetime import date
from types import MappingProxyType

import stdnum.vn.mst

# --- the regular languages -------------------------------------------------------------------

# Birth-registration province codes of the personal ID: 001–096.
_PROVINCE = "0(?:0[1-9]|[1-8][0-9]|9[0-6])"
PERSONAL_ID = f"{_PROVINCE}[0-9]{{9}}"
OLD_ID = "[0-9]{9}"
AGENCY_CODE_STANDARD = r"[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}"
AGENCY_CODE = rf"{AGENCY_CODE_STANDARD}(?:\.[A-Z0-9]{{1,6}}){{0,3}}"
# YYMMDD as a real date of 2000–2099. In that range a year is a leap year exactly when YY is a
# multiple of 4 (2000 is one), which is what the last alternative spells out.
_YYMMDD = (
    "(?:[0-9]{2}(?:"
    "(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)"
    "|02(?:0[1-9]|1[0-9]|2[0-8]))"
    "|(?:[02468][048]|[13579][26])0229)"
)
_SEQUENCE = "(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})"
DOSSIER_CODE = f"{AGENCY_CODE}-{_YYMMDD}-{_SEQUENCE}"
PROCEDURE_CODE = rf"[1-9]\.[0-9]{{6}}(?:\.{AGENCY_CODE_STANDARD})?"
_TAX_CODE_SHAPE = "[0-9]{10}(?:-?[0-9]{3})?"

_personal_id = re.compile(PERSONAL_ID)
_old_id = re.compile(OLD_ID)
_agency_code = re.compile(AGENCY_CODE)
_procedure_code = re.compile(PROCEDURE_CODE)
_tax_code_shape = re.compile(_TAX_CODE_SHAPE)
# The dossier checker reads the date with the calendar rather than trusting the regex above; the
# tests prove the two agree on every YYMMDD.
_dossier_code = re.compile(rf"({AGENCY_CODE})-([0-9]{{2}})([0-9]{{2}})([0-9]{{2}})-{_SEQUENCE}")


# --- the checkers ----------------------------------------------------------------------------


def is_personal_id(value: str) -> bool:
    """The 12-digit personal ID number (số định danh cá nhân, CCCD)."""
    return _personal_id.fullmatch(value) is not None


def is_old_id(value: str) -> bool:
    """The old 9-digit identity card number (CMND)."""
    return _old_id.fullmatch(value) is not None


def is_tax_code(value: str) -> bool:
    """The tax / enterprise code (mã số thuế), with its check digit."""
    # stdnum also strips spaces and dots before checking; the shape test keeps those out.
    return _tax_code_shape.fullmatch(value) is not None and _mst_is_valid(value)


# stdnum takes ~5 µs a code, more than validating the rest of an event; businesses file many
# dossiers under the same code, so the answers (pure, a few bytes each) are remembered.
@functools.lru_cache(maxsize=16_384)
def _mst_is_valid(value: str) -> bool:
    return bool(stdnum.vn.mst.is_valid(value))


def is_agency_code(value: str) -> bool:
    """The agency code (mã định danh cơ quan), QĐ 20/2020, optionally with sub-unit segments."""
    return _agency_code.fullmatch(value) is not None


def is_dossier_code(value: str) -> bool:
    """The dossier code (mã hồ sơ), TT 01/2018 Art. 19: agency, date of receipt, sequence."""
    match = _dossier_code.fullmatch(value)
    if match is None:
        return False
    _, yy, mm, dd = match.groups()
    try:
        date(2000 + int(yy), int(mm), int(dd))
    except ValueError:
        return False
    return True


def is_procedure_code(value: str) -> bool:
    """The administrative procedure code (mã TTHC), national or as published by an agency."""
    return _procedure_code.fullmatch(value) is not None


FormatCheck = Callable[[str], bool]

FORMATS: Mapping[str, FormatCheck] = MappingProxyType(
    {
        "vn-personal-id": is_personal_id,
        "vn-old-id": is_old_id,
        "vn-tax-code": is_tax_code,
        "vn-agency-code": is_agency_code,
        "vn-dossier-code": is_dossier_code,
        "vn-procedure-code": is_procedure_code,
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

# What a caller is told when a value is not of a format.
DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        "vn-personal-id": "a 12-digit personal ID number: province code 001-096, century/sex digit, "
        "year of birth, 6 digits",
        "vn-old-id": "a 9-digit identity card (CMND) number",
        "vn-tax-code": "a tax code: 10 digits with a valid check digit, optionally followed by a "
        "3-digit branch (0100109106 or 0100109106-001)",
        "vn-agency-code": "an agency code such as 000.00.00.H49",
        "vn-dossier-code": "a dossier code <agency code>-<YYMMDD>-<4-digit sequence> with a real date, "
        "such as 000.00.53.H48-220921-0099",
        "vn-procedure-code": "a procedure code such as 1.000894 or 1.003560.000.00.00.H56",
    }
)
