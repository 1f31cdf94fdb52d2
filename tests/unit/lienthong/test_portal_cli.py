from __future__ import annotations

import pytest
import typer

from lienthong.portal_cli import since_of


def test_since_takes_a_duration_back_or_an_instant() -> None:
    assert since_of(None, 1000.0) is None
    assert since_of("10m", 1000.0) == 400.0
    assert since_of("2024-05-02T07:00:00+07:00", 0.0) == 1714608000.0
    for bad in ("yesterday", "2024-05-02T07:00:00"):
        with pytest.raises(typer.BadParameter):
            since_of(bad, 0.0)
