"""Subscription filters: the dialects of the CloudEvents Subscriptions API over context attributes.

A filter sees an event's context attributes as strings (``type``, ``source``, ``subject``...,
extensions included) and answers whether the subscription wants the event. Supported dialects:

- ``exact: {attr: value}``, ``prefix: {attr: value}``, ``suffix: {attr: value}``: one attribute, a
  case-sensitive comparison; an event without the attribute does not match.
- ``all: [f, ...]`` (every filter matches), ``any: [f, ...]`` (at least one), ``not: f``.

The ``sql`` dialect (CESQL) is not supported and is refused by name, so that a configuration that
relies on it fails at load instead of silently matching nothing.

Matching runs for every event and every candidate subscription, so the filters are small frozen
objects whose ``matches`` does a dictionary lookup and one string comparison.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from router.subscriptions import Filter

# CloudEvents 1.0 attribute names: lower-case ASCII letters and digits (router.envelope enforces
# the same on the way in, so a filter on any other name could never match).
ATTRIBUTE_NAME = re.compile(r"^[a-z0-9]{1,20}$")
# Nesting deeper than this is a mistake or an attack on the matcher's stack, not a real filter.
MAX_DEPTH = 16

DIALECTS = ("exact", "prefix", "suffix", "all", "any", "not")


@dataclass(frozen=True, slots=True)
class Exact:
    attribute: str
    value: str

    def matches(self, attributes: Mapping[str, str]) -> bool:
        return attributes.get(self.attribute) == self.value


@dataclass(frozen=True, slots=True)
class Prefix:
    attribute: str
    value: str

    def matches(self, attributes: Mapping[str, str]) -> bool:
        found = attributes.get(self.attribute)
        return found is not None and found.startswith(self.value)


@dataclass(frozen=True, slots=True)
class Suffix:
    attribute: str
    value: str

    def matches(self, attributes: Mapping[str, str]) -> bool:
        found = attributes.get(self.attribute)
        return found is not None and found.endswith(self.value)


@dataclass(frozen=True, slots=True)
class All:
    filters: tuple[Filter, ...]

    def matches(self, attributes: Mapping[str, str]) -> bool:
        return all(f.matches(attributes) for f in self.filters)


@dataclass(frozen=True, slots=True)
class Any_:
    """The ``any`` dialect (named with an underscore so it does not shadow ``typing.Any``)."""

    filters: tuple[Filter, ...]

    def matches(self, attributes: Mapping[str, str]) -> bool:
        return any(f.matches(attributes) for f in self.filters)


@dataclass(frozen=True, slots=True)
class Not:
    filter: Filter

    def matches(self, attributes: Mapping[str, str]) -> bool:
        return not self.filter.matches(attributes)


_COMPARISONS: dict[str, type[Exact | Prefix | Suffix]] = {"exact": Exact, "prefix": Prefix, "suffix": Suffix}


def compile_filter(spec: Mapping[str, Any]) -> Filter:
    """Builds a filter from its configuration form, e.g. ``{"prefix": {"subject": "000.00.00.H49-"}}``.

    Raises ValueError naming what is wrong; the configuration schema catches the same mistakes
    earlier with a file position, this is the last line for filters built elsewhere.
    """
    return _compile(spec, "", 0)


def compile_filters(specs: list[Mapping[str, Any]] | tuple[Mapping[str, Any], ...]) -> tuple[Filter, ...]:
    """Compiles a subscription's list of filters (all must match)."""
    return tuple(_compile(spec, f"/{index}", 0) for index, spec in enumerate(specs))


def _compile(spec: Any, where: str, depth: int) -> Filter:
    here = where or "/"
    if depth > MAX_DEPTH:
        raise ValueError(f"{here}: filters nest deeper than {MAX_DEPTH} levels")
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ValueError(
            f"{here}: a filter is a mapping with exactly one dialect ({', '.join(DIALECTS)}), got {spec!r}"
        )
    ((dialect, body),) = spec.items()
    inner = f"{where}/{dialect}"
    if dialect in _COMPARISONS:
        attribute, value = _comparison(body, inner, dialect)
        return _COMPARISONS[dialect](attribute, value)
    if dialect in ("all", "any"):
        if not isinstance(body, list | tuple) or not body:
            raise ValueError(f"{inner}: '{dialect}' takes a non-empty list of filters")
        parts = tuple(_compile(item, f"{inner}/{i}", depth + 1) for i, item in enumerate(body))
        return All(parts) if dialect == "all" else Any_(parts)
    if dialect == "not":
        return Not(_compile(body, inner, depth + 1))
    if dialect == "sql":
        raise ValueError(f"{inner}: the 'sql' (CESQL) dialect is not supported; use {', '.join(DIALECTS)}")
    raise ValueError(f"{here}: unknown filter dialect {dialect!r}; use one of {', '.join(DIALECTS)}")


def _comparison(body: Any, where: str, dialect: str) -> tuple[str, str]:
    if not isinstance(body, Mapping) or len(body) != 1:
        raise ValueError(f"{where}: '{dialect}' takes exactly one attribute, like {{subject: '...'}}")
    ((attribute, value),) = body.items()
    if not isinstance(attribute, str) or not ATTRIBUTE_NAME.match(attribute):
        raise ValueError(
            f"{where}: {attribute!r} is not a CloudEvents attribute name (lower-case letters and digits)"
        )
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}/{attribute}: the value must be a non-empty string, got {value!r}")
    return attribute, value
