"""Human-friendly durations ("500ms", "30s", "5m", "2h", "7d") and sizes ("512KiB", "1MiB"), as the
configuration file writes them: a leaf module (the standard library only), so that the config
loader and the connectors' option checks read them the same way."""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(B|KiB|MiB|GiB|KB|MB|GB)$")
_SIZE_UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "KB": 10**3, "MB": 10**6, "GB": 10**9}


def parse_duration(value: object) -> float:
    """Seconds from a number of seconds or a string like "500ms"; ValueError otherwise."""
    if isinstance(value, bool):  # YAML's yes/no are not durations, though bool is an int
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{value!r} is not a duration")
    return seconds


def parse_size(value: object) -> int:
    """Bytes from a number of bytes or a string like "1MiB"; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (match := _SIZE.match(value)):
        size = round(float(match.group(1)) * _SIZE_UNITS[match.group(2)])
    else:
        raise ValueError(f"{value!r} is not a size")
    if size < 0:
        raise ValueError(f"{value!r} is not a size")
    return size


def format_duration(seconds: float) -> str:
    """The shortest friendly spelling of a duration, for messages."""
    for unit in ("d", "h", "m", "s"):
        count = seconds / _DURATION_UNITS[unit]
        if count >= 1 and count == int(count):
            return f"{int(count)}{unit}"
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"


def format_size(size: int) -> str:
    for unit in ("GiB", "MiB", "KiB"):
        if size >= _SIZE_UNITS[unit] and size % _SIZE_UNITS[unit] == 0:
            return f"{size // _SIZE_UNITS[unit]}{unit}"
    return f"{size}B"
