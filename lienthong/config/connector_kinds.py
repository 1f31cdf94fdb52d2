"""The configuration loader's check that a ``connectors:`` entry uses only settings its kind takes
(:mod:`connectors.kind_settings`): an unsupported key or option is a problem at its own line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.kind_settings import SUPPORTED
from lienthong.config.problems import JsonPath, Problem


def unsupported_settings(at: JsonPath, entry: Mapping[str, Any]) -> list[Problem]:
    """The problems of the entry at ``at``: each key and option its kind does not take."""
    kind = str(entry.get("kind"))
    supported = next((s for k, s in SUPPORTED.items() if k == kind), None)
    if supported is None:  # not a kind: the schema reports it
        return []
    problems = [
        Problem(
            (*at, key),
            f"a {kind} connector does not take '{key}'",
            f"remove it; a {kind} connector takes {', '.join(sorted(supported.keys))}",
            at_key=True,
        )
        for key in entry
        if key not in supported.keys
    ]
    options = entry.get("options")
    if isinstance(options, Mapping):
        known = ", ".join(f"{name} ({what})" for name, what in supported.options.items()) or "no options"
        problems.extend(
            Problem(
                (*at, "options", name),
                f"a {kind} connector has no option '{name}'",
                f"remove it; a {kind} connector takes {known}",
                at_key=True,
            )
            for name in options
            if name not in supported.options
        )
    return problems
