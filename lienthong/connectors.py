"""The configured outside systems (``connectors:`` in the config), built by kind.

Each kind's builder (connectors/kinds.py) checks the kind's ``options`` and raises
:class:`router.errors.ConfigError` naming the connector, the option and the fix. Building does no
I/O (``lienthong config check`` builds them all); ``start`` may (log in, open files), ``aclose``
releases everything.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from connectors.base import Connector, ConnectorDeps
from connectors.kinds import builder
from lienthong.config.settings import Settings
from router.errors import ConfigError
from router.sinks import Sink
from router.subscriptions import SinkSpec


def build_connectors(settings: Settings, deps: ConnectorDeps) -> dict[str, Connector]:
    """Every configured connector, by name; a ConfigError lists every connector that is wrong."""
    built: dict[str, Connector] = {}
    problems: list[str] = []
    if deps.config_dir is None:
        deps = replace(deps, config_dir=Path(settings.source).parent.resolve())
    for index, entry in enumerate(settings.connectors):
        try:
            built[entry.name] = builder(entry.kind)(entry, deps)
        except ConfigError as error:
            problems.append(f"{settings.source}: /connectors/{index} ({entry.name}): {error.detail}")
    if problems:
        raise ConfigError("\n".join(problems))
    return built


def connector_sink(connectors: dict[str, Connector], spec: SinkSpec) -> Sink:
    """The sink of ``sink: {connector: {name: ...}}``."""
    name = str(spec.options["name"])
    connector = connectors[name]  # the loader has checked that it is configured
    sink = connector.sink(spec)
    if sink is None:
        kind = spec.options.get("kind", "?")
        raise ConfigError(f"connector {name!r} ({kind}) does not take events; it cannot be a sink")
    return sink
