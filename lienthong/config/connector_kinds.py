"""The configuration loader's check that a ``connectors:`` entry uses only settings its kind takes
(:mod:`connectors.kind_settings`): an unsupported key or option is a problem at its own line; a
kind that must authenticate has a client certificate or ``auth`` unless its URL is loopback."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from connectors.kind_settings import SUPPORTED
from lienthong.config.problems import JsonPath, Problem


def unsupported_settings(
    at: JsonPath, entry: Mapping[str, Any], folder: Path, keys: Mapping[str, tuple[str, ...]] | None = None
) -> list[Problem]:
    """The problems of the entry at ``at``: each key and option its kind does not take, and
    what the kind's own check finds in its options' values (files relative to ``folder``;
    ``keys``: the catalogue's datasets' key names, by dataset)."""
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
        if supported.check is not None:
            problems.extend(
                Problem((*at, "options", *found.path), found.message, found.fix)
                for found in supported.check(options, folder, str(entry.get("url", "")), keys)
            )
    tls = entry.get("tls")
    has_certificate = isinstance(tls, Mapping) and "client_cert" in tls
    if supported.authenticated and not has_certificate and "auth" not in entry and not _loopback(entry):
        problems.append(
            Problem(
                at,
                f"the {kind} connector would call {entry.get('url')} without authenticating",
                "give tls.client_cert and tls.client_key, or auth (api_key or oauth2)",
            )
        )
    return problems


def _loopback(entry: Mapping[str, Any]) -> bool:
    host = urlsplit(str(entry.get("url", ""))).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
