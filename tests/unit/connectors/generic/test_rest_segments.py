"""A value put in a REST path is one segment: encoded, and never a dot segment that the URL's
resolution would use to climb to another path (also for an OpenAPI operation's path parameters)."""

from __future__ import annotations

import pytest

from connectors.generic.rest import segment
from router.providers import InvalidProviderRequest


@pytest.mark.parametrize("value", [".", ".."])
def test_a_dot_segment_is_refused(value: str) -> None:
    with pytest.raises(InvalidProviderRequest) as raised:
        segment(value, "parcels")
    assert raised.value.code == "invalid_provider_request"


@pytest.mark.parametrize(
    ("value", "encoded"), [("a/b", "a%2Fb"), ("../x", "..%2Fx"), ("...", "..."), ("H46.1", "H46.1")]
)
def test_any_other_value_is_one_encoded_segment(value: str, encoded: str) -> None:
    assert segment(value, "parcels") == encoded
