"""The road-transport registry connector: ``vehicle.registration`` and ``transport.licence`` over SOAP."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from adapters.soap import SoapEndpoint, SoapProvider
from connectors.provider_connector import (
    ProviderConnector,
    agency_code,
    check_options,
    registry_endpoint,
    registry_lookup,
)
from connectors.vehicle import mapping
from connectors.vehicle.simulator import PATH, WSDL, XSD
from router.providers import (
    CallPolicy,
    DataRequest,
    InvalidProviderRequest,
    RequestContext,
)
from schemas.formats import is_tax_code

if TYPE_CHECKING:
    from lienthong.config.settings import ConnectorSettings
    from lienthong.connectors import ConnectorDeps


def endpoint(
    base_url: str,
    *,
    policy: CallPolicy | None = None,
    name: str = "vehicle",
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


class VehicleConnector:
    """``agency_code`` is the bus's own code, sent as MaDonVi with every lookup."""

    def __init__(self, provider: SoapProvider, agency_code: str) -> None:
        self.provider = provider
        self.agency_code = agency_code

    async def vehicle_registration(self, plate: str, context: RequestContext | None = None) -> dict[str, Any]:
        """The vehicle and its badges (two lookups, made concurrently)."""
        if mapping.PLATE.fullmatch(plate) is None:
            raise InvalidProviderRequest(f"{plate!r} is not a plate number such as 29A-123.45")
        context = context or RequestContext()
        payload = {**context.soap_header(self.agency_code), "BienSo": plate}
        vehicle, badges = await asyncio.gather(
            self.provider.call(
                "TraCuuPhuongTien", payload, deadline=context.deadline, traceparent=context.traceparent
            ),
            self.provider.call(
                "TraCuuPhuHieu", payload, deadline=context.deadline, traceparent=context.traceparent
            ),
        )
        return mapping.vehicle_registration(vehicle["PhuongTien"], badges.get("PhuHieu") or [])

    async def transport_licence(self, tax_code: str, context: RequestContext | None = None) -> dict[str, Any]:
        if not is_tax_code(tax_code):
            raise InvalidProviderRequest(f"{tax_code!r} is not a tax code")
        context = context or RequestContext()
        payload = {**context.soap_header(self.agency_code), "MaSoThue": tax_code}
        reply = await self.provider.call(
            "TraCuuGiayPhepKinhDoanh", payload, deadline=context.deadline, traceparent=context.traceparent
        )
        return mapping.transport_licence(reply["GiayPhep"])

    async def aclose(self) -> None:
        await self.provider.aclose()


def connect(base_url: str, agency_code: str, *, policy: CallPolicy | None = None) -> VehicleConnector:
    return VehicleConnector(SoapProvider(endpoint(base_url, policy=policy)), agency_code)


class VehicleProvider:
    """The road-transport registry as a data provider: ``vehicle.registration`` keyed by
    ``plate``, ``transport.licence`` by ``tax_code``."""

    datasets = frozenset({"vehicle.registration", "transport.licence"})

    def __init__(self, connector: VehicleConnector, name: str) -> None:
        self.connector = connector
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def fetch(self, request: DataRequest) -> dict[str, Any]:
        with registry_lookup(self.name, f"no {request.dataset} for {dict(request.key)}"):
            if request.dataset == "vehicle.registration":
                return await self.connector.vehicle_registration(
                    request.key.get("plate", ""), request.context
                )
            if request.dataset == "transport.licence":
                return await self.connector.transport_licence(
                    request.key.get("tax_code", ""), request.context
                )
        raise InvalidProviderRequest(f"{self.name} does not provide {request.dataset}", provider=self.name)

    async def aclose(self) -> None:
        await self.connector.aclose()


def from_settings(settings: ConnectorSettings, deps: ConnectorDeps) -> ProviderConnector:
    """``connectors: [{kind: vehicle, url, options: {agency_code}}]``."""
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
    connector = VehicleConnector(soap, agency_code(settings.options))
    return ProviderConnector(VehicleProvider(connector, settings.name))
