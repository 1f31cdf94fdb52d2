"""The identifiers of :mod:`router.identifiers` as JSON Schema ``format`` values, for the schemas.

The hot path validator compiles :data:`router.identifiers.PATTERNS` natively; the reference
validator (python-jsonschema) gets :func:`format_checker`. :data:`DESCRIPTIONS` tells a caller
what a value of each format the schemas use looks like.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from urllib.parse import urlsplit

from jsonschema import FormatChecker

from router import identifiers
from router.identifiers import FORMATS, FormatCheck

# What a caller is told when a value is not of a format: the identifiers, and the standard formats
# the schemas use.
DESCRIPTIONS: Mapping[str, str] = MappingProxyType(
    {
        **identifiers.DESCRIPTIONS,
        "date-time": "an RFC 3339 date-time with a time zone, such as 2024-05-01T08:30:00+07:00",
        "date": "an RFC 3339 full date, such as 2024-05-01",
        "uri": "an absolute URI",
    }
)


# --- the reference validator's extras ----------------------------------------------------------

_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-]([0-9]{2}):([0-9]{2}))"
)
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")


def is_date_time(value: str) -> bool:
    """RFC 3339 ``date-time`` (a leap second is allowed, a time zone is required)."""
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return False
    year, month, day, hour, minute, second, off_h, off_m = match.groups()
    try:
        datetime(int(year), int(month), int(day), int(hour), int(minute), min(int(second), 59))
    except ValueError:
        return False
    return int(second) <= 60 and (off_h is None or (int(off_h) <= 23 and int(off_m) <= 59))


def is_uri(value: str) -> bool:
    """An absolute URI: a scheme, then no whitespace or control characters."""
    scheme = urlsplit(value).scheme if ":" in value else ""
    return (
        _URI_SCHEME.fullmatch(scheme) is not None
        and len(value) > len(scheme) + 1
        and not any(c.isspace() or ord(c) < 0x20 or c in '<>"{}|\\^`' for c in value)
    )


def format_checker() -> FormatChecker:
    """A python-jsonschema FormatChecker with our formats, for the reference validator.

    jsonschema checks ``date-time`` and ``uri`` only when optional packages are installed; the
    bus does not depend on them, so simple checkers stand in (jsonschema-rs has its own).
    """
    checker = FormatChecker()
    extras: dict[str, FormatCheck] = {"date-time": is_date_time, "uri": is_uri}
    for name, check in {**extras, **FORMATS}.items():
        if name in FORMATS or name not in checker.checkers:
            checker.checks(name)(_strings_only(check))
    return checker


def _strings_only(check: FormatCheck) -> Callable[[object], bool]:
    # A format asserts nothing about non-strings (JSON Schema 2020-12, 7.1).
    def checker(instance: object) -> bool:
        return not isinstance(instance, str) or check(instance)

    return checker
