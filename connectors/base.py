"""What every connector is and receives: its kind, its settings (a ``connectors:`` entry of the
configuration), what the running bus lends it, and the interface the bus drives.

The bus (``lienthong``) builds these from the configuration file and calls a kind's builder
(:mod:`connectors.kinds`); a connector knows nothing of the bus beyond this module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from prometheus_client import CollectorRegistry

from adapters.outbound_auth import TokenStates
from adapters.provider_http import AiohttpClient, ClientFactory
from adapters.state.postgres import PostgresStateStore
from router.providers import CallPolicy, DataProvider
from router.sinks import Sink
from router.subscriptions import SinkSpec

# The kinds of outside system the bus has a connector for. The config schema's ``kind`` enum, the
# builders in connectors/kinds.py and the list in docs/configuration.md are checked against it
# (tests/unit/connectors/test_kinds.py).
ConnectorKind = Literal["portal", "citizen_store", "soap", "rest"]


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """TLS of calls to an outside system (absolute paths once loaded)."""

    ca_file: str | None = None  # None: the system's trust store
    client_cert: tuple[str, str] | None = None  # (certificate file, key file): mutual TLS


@dataclass(frozen=True, slots=True)
class PlatformSettings:
    """The integration platform (LGSP/NGSP gateway, ``platforms:``) a connector is reached through:
    its token endpoint (absolute), the consumer key and secret (``{env: ...}`` or ``{file: ...}``
    with absolute paths), the metadata headers each request carries, and the service's name."""

    name: str
    service: str
    token_url: str
    consumer_key: Mapping[str, str]
    consumer_secret: Mapping[str, str]
    client_auth: Literal["basic", "form"] = "basic"
    scope: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConnectorSettings:
    """An outside system the bus calls. ``options`` are the kind's own settings, checked by the
    kind's builder."""

    name: str
    kind: ConnectorKind
    url: str
    call_policy: CallPolicy = field(default_factory=CallPolicy)
    options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    tls: TlsFiles = field(default_factory=TlsFiles)
    # how the bus authenticates to the system (``auth:``: api_key or oauth2, secrets by environment
    # variable name); only the kinds that declare it take it (connectors.kind_settings)
    auth: Mapping[str, Any] = field(default_factory=dict)
    # the platform the system is reached through (``platform:`` and ``service:``): ``url`` and
    # ``tls`` are then the platform's, the platform's token and metadata go with every call
    platform: PlatformSettings | None = None


@dataclass(frozen=True, slots=True)
class ConnectorDeps:
    """What the running bus lends its connectors."""

    metrics_registry: CollectorRegistry
    data_dir: Path  # a folder for a connector's own durable state (the transport's folder)
    # the configuration file's folder: relative file names in options are relative to it
    # (the bus fills it in from the settings' source)
    config_dir: Path | None = None
    # the HTTP client class of REST connectors' calls (bench.evidence passes httpx's, to compare)
    rest_client: ClientFactory = AiohttpClient
    # the shared state database (state.postgres), started by the bus before the connectors: a
    # connector keeps there what every process of the bus must see (the portal's sync state);
    # None: in files of data_dir
    shared_state: PostgresStateStore | None = None
    # the access tokens of the integration platforms, one per platform and consumer key: every
    # connector reached through a platform shares its token (connectors.client_auth)
    platform_tokens: TokenStates = field(default_factory=dict)


class Connector(Protocol):
    """A configured outside system. It plays one or both roles: a data provider (datasets for the
    once-only exchange) and a sink (a subscription with ``sink: {connector: {name: ...}}`` delivers
    events to it). Building one does no I/O; ``start`` may (log in, open files), ``aclose``
    releases everything."""

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


# A kind's builder: checks the kind's ``options`` and raises router.errors.ConfigError naming the
# option and the fix.
ConnectorBuilder = Callable[[ConnectorSettings, ConnectorDeps], Connector]
