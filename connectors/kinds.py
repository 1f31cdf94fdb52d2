"""The builder of each connector kind, by kind: what ``kind:`` in a ``connectors:`` entry names.

Each builder imports its kind's module when called, so that a bus loads only the connectors
(and their protocol libraries) it is configured with.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, cast

from connectors.base import Connector, ConnectorBuilder, ConnectorDeps, ConnectorKind, ConnectorSettings
from router.errors import ConfigError


def _portal(settings: ConnectorSettings, deps: ConnectorDeps) -> Connector:
    from connectors.portal.connector import from_settings  # noqa: PLC0415 (loaded when configured)

    return from_settings(settings, deps)


def _citizen_store(settings: ConnectorSettings, deps: ConnectorDeps) -> Connector:
    from connectors.citizen_store.connector import from_settings  # noqa: PLC0415 (loaded when configured)

    return from_settings(settings, deps)


def _soap(settings: ConnectorSettings, deps: ConnectorDeps) -> Connector:
    from connectors.generic.soap import from_settings  # noqa: PLC0415 (loaded when configured)

    return from_settings(settings, deps)


def _rest(settings: ConnectorSettings, deps: ConnectorDeps) -> Connector:
    from connectors.generic.rest import from_settings  # noqa: PLC0415 (loaded when configured)

    return from_settings(settings, deps)


BUILDERS: Final[Mapping[ConnectorKind, ConnectorBuilder]] = {
    "portal": _portal,
    "citizen_store": _citizen_store,
    "soap": _soap,
    "rest": _rest,
}


def builder(kind: str) -> ConnectorBuilder:
    """The builder of ``kind``; a ConfigError listing the known kinds if there is none."""
    if kind not in BUILDERS:
        raise ConfigError(f"no connector kind {kind!r}; known: {', '.join(sorted(BUILDERS))}")
    return BUILDERS[cast(ConnectorKind, kind)]  # one of the keys, as checked above
