"""Policy: default deny, type patterns, member wildcards, operators."""

from __future__ import annotations

import pytest

from router.policy import MAX_CACHED_SYSTEMS, Policy, Rule, TypePatterns

MOTCUA = "000.00.00.H49/motcua"
KHO = "000.00.00.H49/khodulieu"
PORTAL = "000.00.00.G22/dvcqg"


def test_default_deny() -> None:
    policy = Policy([])
    assert not policy.may_publish(MOTCUA, "dossier.submitted")
    assert not policy.may_subscribe(MOTCUA, "dossier.submitted")
    assert not policy.is_admin(MOTCUA)
    # A system the rules do not name gets nothing from rules about others.
    policy = Policy([Rule(systems=(MOTCUA,), publish=("*",), subscribe=("*",), admin=True)])
    assert not policy.may_publish(PORTAL, "dossier.submitted")
    assert not policy.may_subscribe(PORTAL, "dossier.submitted")
    assert not policy.is_admin(PORTAL)


def test_publish_and_subscribe_are_separate_grants() -> None:
    policy = Policy([Rule(systems=(MOTCUA,), publish=("dossier.submitted",))])
    assert policy.may_publish(MOTCUA, "dossier.submitted")
    assert not policy.may_subscribe(MOTCUA, "dossier.submitted")
    assert not policy.may_publish(MOTCUA, "dossier.result.issued")
    assert not policy.is_admin(MOTCUA)


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("dossier.submitted", "dossier.submitted", True),
        ("dossier.submitted", "dossier.submitted.v2", False),
        ("dossier.submitted", "dossier.submitte", False),
        ("dossier.*", "dossier.submitted", True),
        ("dossier.*", "dossier.status.changed", True),
        ("dossier.*", "dossier", False),
        ("dossier.*", "dossier.", False),
        ("dossier.*", "dossierx", False),
        ("dossier.*", "dossierx.submitted", False),  # no accidental prefix match
        ("dossier.*", "xdossier.submitted", False),
        ("dossier.status.*", "dossier.status.changed", True),
        ("dossier.status.*", "dossier.submitted", False),
        ("dossier.status.*", "dossier.statusx.changed", False),
        ("*", "anything.at.all", True),
        ("*", "x", True),
    ],
)
def test_type_patterns(pattern: str, event_type: str, expected: bool) -> None:
    assert TypePatterns.of([pattern]).matches(event_type) is expected
    policy = Policy([Rule(systems=(PORTAL,), subscribe=(pattern,))])
    assert policy.may_subscribe(PORTAL, event_type) is expected


def test_member_wildcard() -> None:
    policy = Policy([Rule(systems=("000.00.00.H49/*",), subscribe=("dossier.result.issued",))])
    assert policy.may_subscribe(MOTCUA, "dossier.result.issued")
    assert policy.may_subscribe(KHO, "dossier.result.issued")
    assert not policy.may_subscribe(PORTAL, "dossier.result.issued")
    # Neither a longer agency code sharing the prefix, nor the bare code, nor the wildcard itself.
    assert not policy.may_subscribe("000.00.00.H490/motcua", "dossier.result.issued")
    assert not policy.may_subscribe("000.00.00.H49", "dossier.result.issued")
    assert not policy.may_subscribe("000.00.00.H49/*", "dossier.result.issued")


def test_rules_add_up() -> None:
    policy = Policy(
        [
            Rule(systems=("000.00.00.H49/*",), subscribe=("dossier.result.issued",)),
            Rule(systems=(KHO,), subscribe=("dossier.submitted",)),
            Rule(systems=(KHO, MOTCUA), publish=("dossier.*",)),
            Rule(systems=(MOTCUA,), admin=True),
        ]
    )
    assert policy.may_subscribe(KHO, "dossier.result.issued")
    assert policy.may_subscribe(KHO, "dossier.submitted")
    assert not policy.may_subscribe(MOTCUA, "dossier.submitted")
    assert policy.may_publish(KHO, "dossier.status.changed")
    assert policy.is_admin(MOTCUA)
    assert not policy.is_admin(KHO)
    grants = policy.grants(KHO)
    assert grants.subscribe.exact == {"dossier.result.issued", "dossier.submitted"}
    assert grants.publish.prefixes == {"dossier."}
    assert not policy.grants(PORTAL).subscribe


def test_answers_stay_right_past_the_cache_bound() -> None:
    policy = Policy([Rule(systems=("000.00.00.H49/*",), publish=("dossier.*",))])
    for n in range(MAX_CACHED_SYSTEMS + 10):
        assert policy.may_publish(f"000.00.00.H49/s{n}", "dossier.submitted")
        assert not policy.may_publish(f"000.00.00.H48/s{n}", "dossier.submitted")


@pytest.mark.parametrize(
    "pattern", ["dossier*", "dossier.*.changed", "*.changed", "", "dossier..x", "dossier.**"]
)
def test_bad_type_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"rule 0: .* is not a type pattern"):
        Policy([Rule(systems=(MOTCUA,), publish=(pattern,))])


@pytest.mark.parametrize("selector", ["motcua", "000.00.00.H49", "*", "000.00.00.H49/Motcua", "*/motcua"])
def test_bad_system_selectors_are_refused(selector: str) -> None:
    with pytest.raises(ValueError, match="not a system id"):
        Policy([Rule(systems=(selector,), publish=("*",))])


def test_a_rule_without_systems_is_refused() -> None:
    with pytest.raises(ValueError, match="names no systems"):
        Policy([Rule(systems=(), publish=("*",))])
