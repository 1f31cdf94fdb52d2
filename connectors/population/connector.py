"""The population database connector: ``citizen.identity`` and ``citizen.residence`` over SOAP."""

from __future__ import annotations

from typing import Any

from adapters.soap import SoapEndpoint, SoapProvider
from connectors.population import mapping
from connectors.population.simulator import PATH, WSDL, XSD
from router.providers import CallPolicy, InvalidProviderRequest, RequestContext
from schemas.formats import is_personal_id


def endpoint(base_url: str, *, policy: CallPolicy | None = None, name: str = "population") -> SoapEndpoint:
    """The registry at ``base_url``, described by the WSDL shipped here, replies checked by its XSD."""
    return SoapEndpoint(
        name=name,
        wsdl=str(WSDL),
        address=f"{base_url.rstrip('/')}{PATH}",
        reply_xsd=str(XSD),
        policy=policy or CallPolicy(),
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
        reply = await self.provider.call("TraCuuCongDan", payload, deadline=context.deadline)
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
        reply = await self.provider.call("XacThucCongDan", payload, deadline=context.deadline)
        return mapping.verification(reply)

    async def aclose(self) -> None:
        await self.provider.aclose()


def connect(base_url: str, agency_code: str, *, policy: CallPolicy | None = None) -> PopulationConnector:
    return PopulationConnector(SoapProvider(endpoint(base_url, policy=policy)), agency_code)
