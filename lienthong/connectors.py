"""The configured outside systems (``connectors:`` in the config), built by kind.

Each kind's module (``connectors/<kind>/``) exposes ``from_settings(settings, deps) -> Connector``;
it checks the kind's ``options`` and raises :class:`router.errors.ConfigError` naming the
connector, the option and the fix. Building does no I/O (``lienthong config check`` builds them
all); ``start`` may (log in, open files), ``aclose`` releases everything.

A connector plays one or both roles: a data provider (datasets for the once-only exchange) and a
sink (a subscription with ``sink: {connector: {name: ...}}`` delivers events to it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from prometheus_client import CollectorRegistry

from adapters.provider_http import AiohttpClient, ClientFactory
from lienthong.config.settings import ConnectorSettings, Settings
from router.errors import ConfigError
from router.providers import DataProvider
from router.sinks import Sink
from router.subscriptions import SinkSpec

# kind -> module holding its ``from_settings``; imported on demand
KINDS = {
    "population": "connectors.population.connector",
    "business": "connectors.business.connector",
    "vehicle": "connectors.vehicle.connector",
    "portal": "connectors.portal.connector",
    "citizen_store": "connectors.citizen_store.connector",
}


@dataclass(frozen=True, slots=True)
class ConnectorDeps:
    """What the running bus lends its connectors."""

    metrics_registry: CollectorRegistry
    data_dir: Path  # a folder for a connector's own durable state (the transport's folder)
    # the configuration file's folder: relative file names in options are relative to it
    # (build_connectors fills it in from the settings' source)
    config_dir: Path | None = None
    # the HTTP client class of REST connectors' calls (bench.evidence passes httpx's, to compare)
    rest_client: ClientFactory = AiohttpClient


class Connector(Protocol):
    @property
    def name(self) -> str: ...

    def provider(self) -> DataProvider | None:
        """The connector as a data provider, or None if it provides no dataset."""
        ...

    def sink(self, spec: SinkSpec) -> Sink | None:
        """The connector as a subscription's sink, or None if it takes no events."""
        ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


ConnectorBuilder = Callable[[ConnectorSettings, ConnectorDeps], Connector]


def builder(kind: str) -> ConnectorBuilder:
    if kind not in KINDS:
        raise ConfigError(f"no connector kind {kind!r}; known: {', '.join(sorted(KINDS))}")
    module = importlib.import_module(KINDS[kind])
    build: ConnectorBuilder = module.from_settings
    return build


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
