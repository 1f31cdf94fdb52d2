"""The population database connector: ``citizen.identity`` and ``citizen.residence`` over SOAP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters.soap import SoapProvider
from connectors.client_auth import outbound_auth
from connectors.population import mapping
from connectors.population.contract import PATH, WSDL, XSD
from connectors.provider_connector import (
    ProviderConnector,
    RegistryProvider,
    SoapRegistryClient,
    registry_endpoint,
    registry_lookup,
)
from router.identifiers import is_personal_id
from router.providers import (
    CallPolicy,
    DataRequest,
    InvalidProviderRequest,
    RequestContext,
)

if TYPE_CHECKING:
    from connectors.base import ConnectorDeps, ConnectorSettings


class PopulationConnector(SoapRegistryClient):
    """The population database's lookups, by personal ID."""

    async def _citizen(self, personal_id: str, context: RequestContext) -> dict[str, Any]:
        if not is_personal_id(personal_id):
            raise InvalidProviderRequest(f"{personal_id!r} is not a 12-digit personal ID")
        reply = await self.call("TraCuuCongDan", {"SoDinhDanh": personal_id}, context)
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
        fields = {"SoDinhDanh": personal_id, "HoVaTen": full_name, "NgayThangNamSinh": date_of_birth}
        reply = await self.call("XacThucCongDan", fields, context or RequestContext())
        return mapping.verification(reply)


def connect(base_url: str, agency_code: str, *, policy: CallPolicy | None = None) -> PopulationConnector:
    endpoint = registry_endpoint("population", base_url, wsdl=WSDL, xsd=XSD, path=PATH, policy=policy)
    return PopulationConnector(SoapProvider(endpoint), agency_code)


class PopulationProvider(RegistryProvider[PopulationConnector]):
    """The population database as a data provider: keyed by ``personal_id``."""

    datasets = frozenset({"citizen.identity", "citizen.residence"})

    async def fetch(self, request: DataRequest) -> dict[str, Any]:
        personal_id = request.key.get("personal_id", "")
        with registry_lookup(self.name, f"no citizen with personal ID {personal_id}"):
            if request.dataset == "citizen.identity":
                return await self.connector.citizen_identity(personal_id, request.context)
            if request.dataset == "citizen.residence":
                return await self.connector.citizen_residence(personal_id, request.context)
        raise InvalidProviderRequest(f"{self.name} does not provide {request.dataset}", provider=self.name)


def from_settings(settings: ConnectorSettings, deps: ConnectorDeps) -> ProviderConnector:
    """``connectors: [{kind: population, url, options: {agency_code}}]``."""
    connector = PopulationConnector.from_settings(
        settings, wsdl=WSDL, xsd=XSD, path=PATH, auth=outbound_auth(settings, deps.metrics_registry)
    )
    return ProviderConnector(PopulationProvider(connector, settings.name))
