"""The road-transport registry connector: ``vehicle.registration`` and ``transport.licence`` over SOAP."""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.soap import SoapEndpoint, SoapProvider
from connectors.vehicle import mapping
from connectors.vehicle.simulator import PATH, WSDL, XSD
from router.providers import CallPolicy, InvalidProviderRequest, RequestContext
from schemas.formats import is_tax_code


def endpoint(base_url: str, *, policy: CallPolicy | None = None, name: str = "vehicle") -> SoapEndpoint:
    """The registry at ``base_url``, described by the WSDL shipped here, replies checked by its XSD."""
    return SoapEndpoint(
        name=name,
        wsdl=str(WSDL),
        address=f"{base_url.rstrip('/')}{PATH}",
        reply_xsd=str(XSD),
        policy=policy or CallPolicy(),
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
            self.provider.call("TraCuuPhuongTien", payload, deadline=context.deadline),
            self.provider.call("TraCuuPhuHieu", payload, deadline=context.deadline),
        )
        return mapping.vehicle_registration(vehicle["PhuongTien"], badges.get("PhuHieu") or [])

    async def transport_licence(self, tax_code: str, context: RequestContext | None = None) -> dict[str, Any]:
        if not is_tax_code(tax_code):
            raise InvalidProviderRequest(f"{tax_code!r} is not a tax code")
        context = context or RequestContext()
        payload = {**context.soap_header(self.agency_code), "MaSoThue": tax_code}
        reply = await self.provider.call("TraCuuGiayPhepKinhDoanh", payload, deadline=context.deadline)
        return mapping.transport_licence(reply["GiayPhep"])

    async def aclose(self) -> None:
        await self.provider.aclose()


def connect(base_url: str, agency_code: str, *, policy: CallPolicy | None = None) -> VehicleConnector:
    return VehicleConnector(SoapProvider(endpoint(base_url, policy=policy)), agency_code)
