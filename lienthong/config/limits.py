"""The ``limits:`` section: limits per caller (router.rate_limits.Limits), with the checks its
schema cannot express: a system named under ``systems`` exists, and a rate's period is one the
bus can keep (from a second to a day)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from lienthong.config.problems import JsonPath, Problem
from router.rate_limits import Limits, Rate, RouteClass
from schemas.units import format_duration, parse_duration

PER_LOW_S, PER_HIGH_S = 1.0, 86400.0
WINDOW_LOW_S, WINDOW_HIGH_S = 60.0, 7 * 86400.0

Report = Callable[[Problem], None]


def build_limits(section: Mapping[str, Any], systems: Collection[str], report: Report) -> Limits:
    """Limits from the schema-valid ``limits:`` section (defaults for what it leaves out)."""
    at: JsonPath = ("limits",)
    defaults = Limits()
    classes = dict(defaults.classes)
    for route_class in RouteClass:
        if route_class.value in section:
            classes[route_class] = _rate(section[route_class.value], (*at, route_class.value), report)
    overrides: dict[str, dict[RouteClass, Rate]] = {}
    for system, own in section.get("systems", {}).items():
        where: JsonPath = (*at, "systems", system)
        if system not in systems:
            report(
                Problem(
                    where, f"no system '{system}' is declared", "name a system declared under members", True
                )
            )
            continue
        overrides[system] = {
            RouteClass(name): _rate(spec, (*where, name), report) for name, spec in own.items()
        }
    return Limits(
        classes=classes,
        systems=overrides,
        unauthenticated=_optional(section, "unauthenticated", at, defaults.unauthenticated, report),
        failed_authentication=_optional(
            section, "failed_authentication", at, defaults.failed_authentication, report
        ),
        distinct_subjects_window_s=_window(
            section, "distinct_subjects_window", at, defaults.distinct_subjects_window_s, report
        ),
        refused_reads_window_s=_window(
            section, "refused_reads_window", at, defaults.refused_reads_window_s, report
        ),
    )


def _optional(section: Mapping[str, Any], key: str, at: JsonPath, default: Rate, report: Report) -> Rate:
    return _rate(section[key], (*at, key), report) if key in section else default


def _rate(spec: Mapping[str, Any], at: JsonPath, report: Report) -> Rate:
    per = _seconds(spec["per"])
    if not PER_LOW_S <= per <= PER_HIGH_S:
        report(
            Problem(
                (*at, "per"),
                f"{spec['per']!r} is out of range",
                f"use a period from {format_duration(PER_LOW_S)} to {format_duration(PER_HIGH_S)}",
            )
        )
        per = PER_LOW_S
    return Rate(int(spec["requests"]), per)


def _window(section: Mapping[str, Any], key: str, at: JsonPath, default: float, report: Report) -> float:
    if key not in section:
        return default
    seconds = _seconds(section[key])
    if not WINDOW_LOW_S <= seconds <= WINDOW_HIGH_S:
        report(
            Problem(
                (*at, key),
                f"{section[key]!r} is out of range",
                f"use a window from {format_duration(WINDOW_LOW_S)} to {format_duration(WINDOW_HIGH_S)}",
            )
        )
        return default
    return seconds


def _seconds(value: Any) -> float:
    try:
        return parse_duration(value)  # the schema has checked the form...
    except ValueError:
        return float("inf")  # ...but not that a number is finite (YAML's .inf)
