"""Subscription filters: the CloudEvents Subscriptions API dialects over context attributes."""

from __future__ import annotations

from typing import Any

import pytest

from router.filters import MAX_DEPTH, All, Any_, Exact, Not, Prefix, Suffix, compile_filter, compile_filters
from router.subscriptions import SinkSpec, Subscription

EVENT = {
    "type": "dossier.status.changed",
    "source": "000.00.00.H49/motcua",
    "subject": "000.00.00.H49-240115-0001",
    "correlationid": "abc-123",  # an extension attribute
}


def matches(spec: dict[str, Any], attributes: dict[str, str] = EVENT) -> bool:
    return compile_filter(spec).matches(attributes)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"exact": {"type": "dossier.status.changed"}}, True),
        ({"exact": {"type": "dossier.status"}}, False),
        ({"exact": {"type": "Dossier.status.changed"}}, False),  # case-sensitive
        ({"exact": {"correlationid": "abc-123"}}, True),  # extensions are attributes too
        ({"prefix": {"subject": "000.00.00.H49-"}}, True),
        ({"prefix": {"subject": "000.00.00.H48-"}}, False),
        ({"prefix": {"subject": "000.00.00.H49-240115-0001-more"}}, False),  # longer than the value
        ({"suffix": {"subject": "-0001"}}, True),
        ({"suffix": {"subject": "-0002"}}, False),
        ({"suffix": {"type": ".changed"}}, True),
    ],
)
def test_comparisons(spec: dict[str, Any], expected: bool) -> None:
    assert matches(spec) is expected


@pytest.mark.parametrize("dialect", ["exact", "prefix", "suffix"])
def test_a_missing_attribute_does_not_match(dialect: str) -> None:
    assert not matches({dialect: {"userid": "x"}})
    # ...and so its negation does.
    assert matches({"not": {dialect: {"userid": "x"}}})


def test_all_any_not() -> None:
    yes = {"prefix": {"subject": "000.00.00.H49-"}}
    no = {"exact": {"source": "000.00.00.G22/dvcqg"}}
    assert matches({"all": [yes, {"suffix": {"subject": "0001"}}]})
    assert not matches({"all": [yes, no]})
    assert matches({"any": [no, yes]})
    assert not matches({"any": [no, {"not": yes}]})
    assert matches({"not": no})
    assert not matches({"not": {"not": no}})
    assert matches({"all": [{"any": [no, yes]}, {"not": no}]})


def test_compiled_shapes() -> None:
    assert compile_filter({"exact": {"type": "a"}}) == Exact("type", "a")
    assert compile_filter({"prefix": {"subject": "a"}}) == Prefix("subject", "a")
    assert compile_filter({"suffix": {"subject": "a"}}) == Suffix("subject", "a")
    assert compile_filter({"all": [{"exact": {"type": "a"}}]}) == All((Exact("type", "a"),))
    assert compile_filter({"any": [{"exact": {"type": "a"}}]}) == Any_((Exact("type", "a"),))
    assert compile_filter({"not": {"exact": {"type": "a"}}}) == Not(Exact("type", "a"))
    assert compile_filters([{"exact": {"type": "a"}}, {"suffix": {"id": "1"}}]) == (
        Exact("type", "a"),
        Suffix("id", "1"),
    )


def test_filters_drive_subscription_wants() -> None:
    subscription = Subscription(
        name="s",
        system="000.00.00.G22/dvcqg",
        types=("dossier.status.changed",),
        filters=compile_filters(
            [{"prefix": {"subject": "000.00.00.H49-"}}, {"not": {"suffix": {"subject": "-0000"}}}]
        ),
        sink=SinkSpec("webhook", {"url": "http://127.0.0.1:1/"}),
    )
    assert subscription.wants("dossier.status.changed", EVENT)
    assert not subscription.wants("dossier.status.changed", {**EVENT, "subject": "000.00.00.H49-240115-0000"})
    assert not subscription.wants("dossier.status.changed", {**EVENT, "subject": "000.00.00.H48-240115-0001"})


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ({"regex": {"type": "a"}}, "unknown filter dialect 'regex'"),
        ({"sql": "type = 'a'"}, "'sql' (CESQL) dialect is not supported"),
        ({}, "exactly one dialect"),
        ({"exact": {"type": "a"}, "prefix": {"type": "a"}}, "exactly one dialect"),
        ({"exact": {"type": "a", "source": "b"}}, "exactly one attribute"),
        ({"exact": {}}, "exactly one attribute"),
        ({"exact": "type"}, "exactly one attribute"),
        ({"prefix": {"Subject": "a"}}, "not a CloudEvents attribute name"),
        ({"prefix": {"subject": ""}}, "non-empty string"),
        ({"suffix": {"subject": 5}}, "non-empty string"),
        ({"all": []}, "non-empty list"),
        ({"any": {"exact": {"type": "a"}}}, "non-empty list"),
        ({"not": [{"exact": {"type": "a"}}]}, "exactly one dialect"),
        ({"all": [{"exact": {"type": "a"}}, {"nope": {}}]}, "/all/1: unknown filter dialect"),
    ],
)
def test_bad_filters_are_refused_with_a_reason(spec: Any, words: str) -> None:
    with pytest.raises(ValueError) as raised:
        compile_filter(spec)
    assert words in str(raised.value)


def test_nesting_is_bounded() -> None:
    spec: dict[str, Any] = {"exact": {"type": "a"}}
    for _ in range(MAX_DEPTH):
        spec = {"not": spec}
    compile_filter(spec)  # as deep as allowed
    with pytest.raises(ValueError, match="deeper than"):
        compile_filter({"not": spec})
