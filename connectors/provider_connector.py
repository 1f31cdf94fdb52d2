"""A connector that only provides datasets (the registries: population, business, vehicle), and
what the registries share: the checks of their options, the SOAP endpoint of a shipped WSDL, the
client of a SOAP registry, the data provider around a client, and the reading of their "not
found" fault."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

from adapters.outbound_auth import OutboundAuth
from adapters.soap import SoapEndpoint, SoapProvider
from router.errors import ConfigError
from router.identifiers import is_agency_code
from router.providers import (
    CallPolicy,
    DataProvider,
    ProviderFault,
    RequestContext,
    SubjectNotFound,
    circuit_state_of,
)
from router.sinks import Sink
from router.subscriptions import SinkSpec

if TYPE_CHECKING:
    from connectors.base import ConnectorSettings


class ProviderConnector:
    def __init__(self, provider: DataProvider) -> None:
        self._provider = provider

    @property
    def name(self) -> str:
        return self._provider.name

    def provider(self) -> DataProvider | None:
        return self._provider

    def sink(self, spec: SinkSpec) -> Sink | None:
        return None  # a registry takes no events

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        await self._provider.aclose()


def check_options(options: Mapping[str, Any], known: Mapping[str, str]) -> None:
    """Unknown options are mistakes; ``known`` maps each option to what it is, for the message."""
    unknown = sorted(set(options) - set(known))
    if unknown:
        listed = "; ".join(f"{name}: {what}" for name, what in known.items()) or "none"
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}; this kind takes {listed}")


def agency_code(options: Mapping[str, Any]) -> str:
    """The bus's own agency code as the registry knows it (sent as MaDonVi with every lookup)."""
    code = options.get("agency_code")
    if not isinstance(code, str) or not is_agency_code(code):
        raise ConfigError(
            "options.agency_code: the bus's own agency code is required (sent as MaDonVi), "
            "e.g. agency_code: 000.00.00.H49"
        )
    return code


# The fault both SOAP registries (population, road transport) answer for a record they do not hold.
REGISTRY_NOT_FOUND = "KHONG_TIM_THAY"


def registry_endpoint(
    name: str,
    base_url: str,
    *,
    wsdl: Path,
    xsd: Path,
    path: str,
    policy: CallPolicy | None = None,
    client_cert: tuple[str, str] | None = None,
    ca_file: str | None = None,
    auth: OutboundAuth | None = None,
) -> SoapEndpoint:
    """A SOAP registry at ``base_url``: described by the WSDL shipped with its connector, served at
    ``path``, replies checked by its XSD; ``client_cert`` and ``ca_file`` for (mutual) TLS."""
    return SoapEndpoint(
        name=name,
        wsdl=str(wsdl),
        address=f"{base_url.rstrip('/')}{path}",
        reply_xsd=str(xsd),
        policy=policy or CallPolicy(),
        client_cert=client_cert,
        ca_file=ca_file,
        auth=auth,
    )


@contextmanager
def registry_lookup(provider: str, missing: str) -> Iterator[None]:
    """Turns the registry's "not found" fault into :class:`SubjectNotFound` (``missing`` says what
    was not found); other errors pass unchanged."""
    try:
        yield
    except ProviderFault as fault:
        if REGISTRY_NOT_FOUND in (fault.fault_code, fault.message):
            raise SubjectNotFound(missing, provider=provider) from None
        raise


class SoapRegistryClient:
    """The client of a SOAP registry (population, road transport); subclasses add its lookups.
    ``agency_code`` is the bus's own code, sent as MaDonVi with every lookup."""

    def __init__(self, provider: SoapProvider, agency_code: str) -> None:
        self.provider = provider
        self.agency_code = agency_code

    @classmethod
    def from_settings(
        cls,
        settings: ConnectorSettings,
        *,
        wsdl: Path,
        xsd: Path,
        path: str,
        auth: OutboundAuth | None = None,
    ) -> Self:
        """The client of a ``connectors:`` entry ``{url, options: {agency_code}}``, with its call
        policy, TLS and credentials (``auth``, :mod:`connectors.client_auth`); ``wsdl``, ``xsd``
        and ``path`` as for :func:`registry_endpoint`."""
        check_options(settings.options, {"agency_code": "the bus's own agency code, sent as MaDonVi"})
        endpoint = registry_endpoint(
            settings.name,
            settings.url,
            wsdl=wsdl,
            xsd=xsd,
            path=path,
            policy=settings.call_policy,
            client_cert=settings.tls.client_cert,
            ca_file=settings.tls.ca_file,
            auth=auth,
        )
        return cls(SoapProvider(endpoint), agency_code(settings.options))

    @property
    def circuit_state(self) -> str:
        return self.provider.circuit_state

    async def call(self, operation: str, fields: Mapping[str, Any], context: RequestContext) -> Any:
        """The reply to ``operation`` asked with the request header, then ``fields``, within the
        context's deadline and trace."""
        payload = {**context.soap_header(self.agency_code), **fields}
        return await self.provider.call(
            operation, payload, deadline=context.deadline, traceparent=context.traceparent
        )

    async def aclose(self) -> None:
        await self.provider.aclose()


class _Client(Protocol):
    async def aclose(self) -> None: ...


_ClientT = TypeVar("_ClientT", bound=_Client)


class RegistryProvider(Generic[_ClientT]):
    """The part of a registry's data provider that is not its datasets: the name of its
    ``connectors:`` entry, and closing its client. Subclasses set ``datasets`` and ``fetch``."""

    def __init__(self, connector: _ClientT, name: str) -> None:
        self.connector = connector
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def circuit_state(self) -> str:
        return circuit_state_of(self.connector)

    async def aclose(self) -> None:
        await self.connector.aclose()
