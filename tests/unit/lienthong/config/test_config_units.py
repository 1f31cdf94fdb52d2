"""Durations and sizes as people write them."""

from __future__ import annotations

import pytest

from lienthong.config import parse_duration, parse_size
from schemas.units import format_duration, format_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("1.5s", 1.5),
        ("5m", 300.0),
        ("2h", 7200.0),
        ("7d", 604800.0),
        (2, 2.0),
        (0.25, 0.25),
    ],
)
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "bad", ["5", "5 s", "5sec", "-5s", "s", "1w", "", True, None, [], -1, float("inf"), float("nan")]
)
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1MiB", 1 << 20),
        ("512KiB", 512 << 10),
        ("1GiB", 1 << 30),
        ("1MB", 10**6),
        ("10KB", 10_000),
        ("100B", 100),
        (4096, 4096),
        ("1.5KiB", 1536),
    ],
)
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["1 MiB", "1mib", "1M", "MiB", "", 1.5, True, -1])
def test_bad_sizes(bad: object) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(bad)


def test_friendly_spelling_round_trips() -> None:
    for text in ("500ms", "30s", "5m", "2h", "7d"):
        assert format_duration(parse_duration(text)) == text
    for text in ("1MiB", "512KiB", "100B"):
        assert format_size(parse_size(text)) == text
