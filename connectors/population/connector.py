"""The population database connector: ``citizen.identity`` and ``citizen.residence`` over SOAP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters.soap import SoapEndpoint, SoapProvider
from connectors.population import mapping
from connectors.population.simulator import PATH, WSDL, XSD
from connectors.provider_connector import (
    ProviderConnector,
    agency_code,
    check_options,
    registry_endpoint,
    registry_lookup,
)
from router.providers import (
    CallPolicy,
    DataRequest,
    InvalidProviderRequest,
    RequestContext,
)
from schemas.formats import is_personal_id

if TYPE_CHECKING:
    from lienthong.config.settings import ConnectorSettings
    from lienthong.connectors import ConnectorDeps


def endpoint(
    base_url: str,
    *,
    policy: CallPolicy | None = None,
    name: str = "population",
    client_cert: tuple[str, str] | None = None,
    ca_file: str | None = None,
) -> SoapEndpoint:
    """The registry at ``base_url``, described by the WSDL shipped here, replies checked by its XSD."""
    return registry_endpoint(
        name,
        base_url,
        wsdl=WSDL,
        xsd=XSD,
        path=PATH,
        policy=policy,
        client_cert=client_cert,
        ca_file=ca_file,
    )


class PopulationConnector:
    """``agency_code`` is the bus's own code, sent as MaDonVi with every lookup."""

    def __init__(self, provider: SoapProvider, agency_code: str) -> None:
        self.provider = provider
        self.agency_code = agency_code

    async def _citizen(self, personal_id: str, context: RequestContext) -> dict[str, Any]:
        if not is_personal_id(personal_id):
            raise InvalidProviderRequest(f"{personal_id!r} is not a 12-digit personal ID")
        payload = {**context.soap_header(self.agency_code), "SoDinhDanh": personal_id}
        reply = await self.provider.call(
            "TraCuuCongDan", payload, deadline=context.deadline, traceparent=context.traceparent
        )
        citizen: dict[str, Any] = reply["CongDan"]
        return citizen

    async def citizen_identity(
        self, personal_id: str, context: RequestContext | None = None
    ) -> dict[str, Any]:
        return mapping.citizen_identity(await self._citizen(personal_id, context or RequestContext()))

    async def citizen_residence(
        self, personal_id: str, context: RequestContext | None = None
    ) -> dict[str, Any]:
        return mapping.citizen_residence(await self._citizen(personal_id, context or RequestContext()))

    async def verify_identity(
        self, personal_id: str, full_name: str, date_of_birth: str, context: RequestContext | None = None
    ) -> dict[str, Any]:
        """Whether the ID, name and date of birth (``yyyy-mm-dd`` or ``yyyy``) belong together."""
        if not is_personal_id(personal_id):
            raise InvalidProviderRequest(f"{personal_id!r} is not a 12-digit personal ID")
        context = context or RequestContext()
        payload = {
            **context.soap_header(self.agency_code),
            "SoDinhDanh": personal_id,
            "HoVaTen": full_name,
            "NgayThangNamSinh": date_of_birth,
        }
        reply = await self.provider.call(
            "XacThucCongDan", payload, deadline=context.deadline, traceparent=context.traceparent
        )
        return mapping.verification(reply)

    async def aclose(self) -> None:
        await self.provider.aclose()


def connect(base_url: str, agency_code: str, *, policy: CallPolicy | None = None) -> PopulationConnector:
    return PopulationConnector(SoapProvider(endpoint(base_url, policy=policy)), agency_code)


class PopulationProvider:
    """The population database as a data provider: keyed by ``personal_id``."""

    datasets = frozenset({"citizen.identity", "citizen.residence"})

    def __init__(self, connector: PopulationConnector, name: str) -> None:
        self.connector = connector
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def fetch(self, request: DataRequest) -> dict[str, Any]:
        personal_id = request.key.get("personal_id", "")
        with registry_lookup(self.name, f"no citizen with personal ID {personal_id}"):
            if request.dataset == "citizen.identity":
                return await self.connector.citizen_identity(personal_id, request.context)
            if request.dataset == "citizen.residence":
                return await self.connector.citizen_residence(personal_id, request.context)
        raise InvalidProviderRequest(f"{self.name} does not provide {request.dataset}", provider=self.name)

    async def aclose(self) -> None:
        await self.connector.aclose()


def from_settings(settings: ConnectorSettings, deps: ConnectorDeps) -> ProviderConnector:
    """``connectors: [{kind: population, url, options: {agency_code}}]``."""
    check_options(settings.options, {"agency_code": "the bus's own agency code, sent as MaDonVi"})
    soap = SoapProvider(
        endpoint(
            settings.url,
            policy=settings.call_policy,
            name=settings.name,
            client_cert=settings.tls.client_cert,
            ca_file=settings.tls.ca_file,
        )
    )
    connector = PopulationConnector(soap, agency_code(settings.options))
    return ProviderConnector(PopulationProvider(connector, settings.name))
