"""Policy: which system may publish which event types, subscribe to which, and act as operator.

Default deny: a system may do only what some rule grants it. A rule names its systems (exact ids,
or ``<agency code>/*`` for every system of a member) and its grants; grants of all the rules that
name a system add up. Type patterns are exact (``dossier.submitted``), a trailing wildcard over
whole dot-separated segments (``dossier.*`` matches ``dossier.status.changed`` but neither
``dossier`` nor ``dossierx.a``), or ``*`` for every type.

Checks run on every publish and every routed event, so a system's rules are merged once into a
:class:`Grants` (sets of exact types and of prefixes) and a check is a few set lookups: one per
dot in the type.

Data requests (the once-only exchange) are granted by :class:`DataGrant`: datasets x procedures x
purposes, each a set or "any" (``*``). A request is allowed when one grant covers all three.
Reading a subject's access log is a grant of its own (``read_access_log``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from router.directory import SYSTEM_ID

# An event type: dot-separated segments of letters, digits, '_' and '-'.
TYPE_NAME = r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*"
EVENT_TYPE = re.compile(rf"^{TYPE_NAME}$")
TYPE_PATTERN = re.compile(rf"^(?:\*|{TYPE_NAME}(?:\.\*)?)$")
# Every system of a member: "<agency code>/*".
MEMBER_WILDCARD = re.compile(r"^([0-9A-Z]+(?:\.[0-9A-Z]+)*)/\*$")
# Merged grants are cached per system id; the bound keeps a flood of made-up ids from growing it.
MAX_CACHED_SYSTEMS = 4096


ANY = "*"


@dataclass(frozen=True, slots=True)
class DataGrant:
    """Datasets a system may request, for which procedures and purposes (``*`` = any)."""

    datasets: frozenset[str]
    purposes: frozenset[str]
    procedures: frozenset[str] = frozenset({ANY})

    def allows(self, dataset: str, procedure: str, purpose: str) -> bool:
        return (
            (ANY in self.datasets or dataset in self.datasets)
            and (ANY in self.procedures or procedure in self.procedures)
            and purpose in self.purposes
        )


@dataclass(frozen=True, slots=True)
class Rule:
    """One policy rule, as written in the configuration."""

    systems: tuple[str, ...]  # "000.00.00.H49/motcua" or "000.00.00.H49/*"
    publish: tuple[str, ...] = ()  # type patterns
    subscribe: tuple[str, ...] = ()  # type patterns
    admin: bool = False  # operator actions: every subscription, dead-letter replay
    description: str = ""
    requests: tuple[DataGrant, ...] = ()  # datasets it may request (once-only exchange)
    read_access_log: bool = False  # any subject's access log (the portal, for its citizen)


@dataclass(frozen=True, slots=True)
class TypePatterns:
    """A compiled set of type patterns."""

    exact: frozenset[str] = frozenset()
    prefixes: frozenset[str] = frozenset()  # "dossier." for "dossier.*"
    everything: bool = False

    @classmethod
    def of(cls, patterns: Iterable[str]) -> TypePatterns:
        exact: set[str] = set()
        prefixes: set[str] = set()
        everything = False
        for pattern in patterns:
            if not TYPE_PATTERN.match(pattern):
                raise ValueError(
                    f"{pattern!r} is not a type pattern; write a type (dossier.submitted), "
                    "a type prefix ending in '.*' (dossier.*), or '*'"
                )
            if pattern == "*":
                everything = True
            elif pattern.endswith(".*"):
                prefixes.add(pattern[:-1])
            else:
                exact.add(pattern)
        return cls(frozenset(exact), frozenset(prefixes), everything)

    def __or__(self, other: TypePatterns) -> TypePatterns:
        return TypePatterns(
            self.exact | other.exact, self.prefixes | other.prefixes, self.everything or other.everything
        )

    def __bool__(self) -> bool:
        return self.everything or bool(self.exact) or bool(self.prefixes)

    def matches(self, event_type: str) -> bool:
        if self.everything or event_type in self.exact:
            return True
        if self.prefixes:
            # Try the type cut after each of its dots: "a.b.c" -> "a.", "a.b.".
            dot = event_type.find(".")
            while dot != -1 and dot + 1 < len(event_type):
                if event_type[: dot + 1] in self.prefixes:
                    return True
                dot = event_type.find(".", dot + 1)
        return False


NOTHING = TypePatterns()


@dataclass(frozen=True, slots=True)
class Grants:
    """Everything one system may do: the union of the rules that name it."""

    publish: TypePatterns = NOTHING
    subscribe: TypePatterns = NOTHING
    admin: bool = False
    requests: tuple[DataGrant, ...] = ()
    read_access_log: bool = False

    def __or__(self, other: Grants) -> Grants:
        return Grants(
            self.publish | other.publish,
            self.subscribe | other.subscribe,
            self.admin or other.admin,
            self.requests + other.requests,
            self.read_access_log or other.read_access_log,
        )


NO_GRANTS = Grants()


def _compile(rule: Rule) -> Grants:
    return Grants(
        TypePatterns.of(rule.publish),
        TypePatterns.of(rule.subscribe),
        rule.admin,
        rule.requests,
        rule.read_access_log,
    )


class Policy:
    """Default-deny policy over publish, subscribe and operator actions."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        self._rules = tuple(rules)
        # Grants by exact system id and by member (agency code), each merged across rules.
        self._by_system: dict[str, Grants] = {}
        self._by_member: dict[str, Grants] = {}
        for index, rule in enumerate(self._rules):
            try:
                grants = _compile(rule)
            except ValueError as error:
                raise ValueError(f"policy rule {index}: {error}") from None
            if not rule.systems:
                raise ValueError(f"policy rule {index}: it names no systems")
            for selector in rule.systems:
                member = MEMBER_WILDCARD.match(selector)
                if member is not None:
                    code = member.group(1)
                    self._by_member[code] = self._by_member.get(code, NO_GRANTS) | grants
                elif SYSTEM_ID.match(selector):
                    self._by_system[selector] = self._by_system.get(selector, NO_GRANTS) | grants
                else:
                    raise ValueError(
                        f"policy rule {index}: {selector!r} is not a system id "
                        "('<agency code>/<system>') nor '<agency code>/*'"
                    )
        self._cache: dict[str, Grants] = {}

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._rules

    def grants(self, system_id: str) -> Grants:
        """What a system may do, merged from every rule that names it or its member."""
        cached = self._cache.get(system_id)
        if cached is not None:
            return cached
        member, slash, name = system_id.partition("/")
        grants = self._by_system.get(system_id, NO_GRANTS)
        if slash and name and name != "*":  # a member's grants go to its systems, not to bare codes
            grants = grants | self._by_member.get(member, NO_GRANTS)
        if len(self._cache) < MAX_CACHED_SYSTEMS:
            self._cache[system_id] = grants
        return grants

    def may_publish(self, system_id: str, event_type: str) -> bool:
        return self.grants(system_id).publish.matches(event_type)

    def may_subscribe(self, system_id: str, event_type: str) -> bool:
        return self.grants(system_id).subscribe.matches(event_type)

    def is_admin(self, system_id: str) -> bool:
        return self.grants(system_id).admin

    def may_request(self, system_id: str, dataset: str, procedure: str, purpose: str) -> bool:
        """Whether the system may request ``dataset`` for ``procedure`` and ``purpose``."""
        return any(g.allows(dataset, procedure, purpose) for g in self.grants(system_id).requests)

    def may_read_access_log(self, system_id: str) -> bool:
        return self.grants(system_id).read_access_log
