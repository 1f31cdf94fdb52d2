"""The road-transport registry connector: ``vehicle.registration`` and ``transport.licence`` over SOAP."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from adapters.soap import SoapProvider
from connectors.client_auth import outbound_auth
from connectors.provider_connector import (
    ProviderConnector,
    RegistryProvider,
    SoapRegistryClient,
    registry_endpoint,
    registry_lookup,
)
from connectors.vehicle import mapping
from connectors.vehicle.contract import PATH, WSDL, XSD
from router.identifiers import is_tax_code
from router.providers import (
    CallPolicy,
    DataRequest,
    InvalidProviderRequest,
    RequestContext,
)

if TYPE_CHECKING:
    from connectors.base import ConnectorDeps, ConnectorSettings


class VehicleConnector(SoapRegistryClient):
    """The road-transport registry's lookups, by plate and by tax code."""

    async def vehicle_registration(self, plate: str, context: RequestContext | None = None) -> dict[str, Any]:
        """The vehicle and its badges (two lookups, made concurrently)."""
        if mapping.PLATE.fullmatch(plate) is None:
            raise InvalidProviderRequest(f"{plate!r} is not a plate number such as 29A-123.45")
        context = context or RequestContext()
        fields = {"BienSo": plate}
        vehicle, badges = await asyncio.gather(
            self.call("TraCuuPhuongTien", fields, context), self.call("TraCuuPhuHieu", fields, context)
        )
        return mapping.vehicle_registration(vehicle["PhuongTien"], badges.get("PhuHieu") or [])

    async def transport_licence(self, tax_code: str, context: RequestContext | None = None) -> dict[str, Any]:
        # a household business's licence is under its owner's personal ID (since 1 July 2025):
        # neither is quoted back, it may be a person's
        if not is_tax_code(tax_code, personal_id=True):
            raise InvalidProviderRequest(
                "the tax code is not 10 digits with a check digit, 13 digits or a 12-digit personal ID"
            )
        reply = await self.call(
            "TraCuuGiayPhepKinhDoanh", {"MaSoThue": tax_code}, context or RequestContext()
        )
        return mapping.transport_licence(reply["GiayPhep"])


def connect(base_url: str, agency_code: str, *, policy: CallPolicy | None = None) -> VehicleConnector:
    endpoint = registry_endpoint("vehicle", base_url, wsdl=WSDL, xsd=XSD, path=PATH, policy=policy)
    return VehicleConnector(SoapProvider(endpoint), agency_code)


class VehicleProvider(RegistryProvider[VehicleConnector]):
    """The road-transport registry as a data provider: ``vehicle.registration`` keyed by
    ``plate``, ``transport.licence`` by ``tax_code``."""

    datasets = frozenset({"vehicle.registration", "transport.licence"})

    async def fetch(self, request: DataRequest) -> dict[str, Any]:
        missing = (
            f"no {request.dataset} for {dict(request.key)}"
            if request.dataset == "vehicle.registration"
            else f"no {request.dataset} for the tax code given"  # perhaps a person's ID: not quoted
        )
        with registry_lookup(self.name, missing):
            if request.dataset == "vehicle.registration":
                return await self.connector.vehicle_registration(
                    request.key.get("plate", ""), request.context
                )
            if request.dataset == "transport.licence":
                return await self.connector.transport_licence(
                    request.key.get("tax_code", ""), request.context
                )
        raise InvalidProviderRequest(f"{self.name} does not provide {request.dataset}", provider=self.name)


def from_settings(settings: ConnectorSettings, deps: ConnectorDeps) -> ProviderConnector:
    """``connectors: [{kind: vehicle, url, options: {agency_code}}]``."""
    connector = VehicleConnector.from_settings(
        settings, wsdl=WSDL, xsd=XSD, path=PATH, auth=outbound_auth(settings, deps.metrics_registry)
    )
    return ProviderConnector(VehicleProvider(connector, settings.name))
