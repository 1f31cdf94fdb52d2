"""A simulator of the road-transport registry: a real SOAP server with its own WSDL and XSD.

Operations (``vehicle.wsdl``): ``TraCuuPhuongTien`` looks a vehicle up by plate (owner, type,
seats, inspection expiry); ``TraCuuGiayPhepKinhDoanh`` the transport business licence of a tax
code; ``TraCuuPhuHieu`` the badges of a vehicle (none is an empty answer, not a fault). An
unknown plate or unlicensed tax code is a ``Client`` fault ``KHONG_TIM_THAY``; malformed input
a ``Client`` fault ``INVALID_INPUT``. Data: :mod:`simulators.registry_data`, so owners are the
population simulator's citizens and the business simulator's enterprises.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree
from starlette.types import ASGIApp

from router.identifiers import is_tax_code_or_personal_id
from simulators.registry_data import DEFAULT_SEED, Badge, Registry, TransportLicence, Vehicle, build
from simulators.server import Faults, SimulatorState, simulator_app
from simulators.soap_service import CONTRACTS, registry_record, required, soap_routes
from simulators.soap_service import build as element

NAMESPACE = "urn:lienthong:sim:vehicle:v1"
PATH = "/vehicle"  # where the service answers (its WSDL at ?wsdl, its XSD at /vehicle.xsd)
WSDL = CONTRACTS / "vehicle.wsdl"
XSD = CONTRACTS / "vehicle.xsd"
# the XSD's BienSo: province, series (1-2 letters, maybe a digit), then 123.45 or 1234
PLATE = re.compile(r"[0-9]{2}[A-Z]{1,2}[0-9]?-(?:[0-9]{3}\.[0-9]{2}|[0-9]{4})")


def vehicle_reply(vehicle: Vehicle) -> dict[str, Any]:
    return {
        "BienSo": vehicle.plate,
        "ChuSoHuu": {"MaDinhDanh": vehicle.owner_id, "Ten": vehicle.owner_name},
        "LoaiXe": vehicle.kind,
        "NhanHieu": vehicle.brand,
        "SoChoNgoi": vehicle.seats,
        "NamSanXuat": vehicle.manufactured,
        "HanKiemDinh": vehicle.inspection_expiry.isoformat(),
    }


def licence_reply(licence: TransportLicence) -> dict[str, Any]:
    return {
        "SoGiayPhep": licence.number,
        "MaSoThue": licence.tax_code,
        "LoaiHinhKinhDoanh": list(licence.kinds),
        "NgayCap": licence.issued_on.isoformat(),
        "NgayHetHan": licence.expires_on.isoformat(),
        "CoQuanCap": licence.issuer,
    }


def badge_reply(badge: Badge) -> dict[str, Any]:
    return {
        "SoPhuHieu": badge.number,
        "BienSo": badge.plate,
        "SoGiayPhep": badge.licence,
        "LoaiPhuHieu": badge.kind,
        "HanSuDung": badge.valid_until.isoformat(),
    }


def _is_plate(value: str) -> bool:
    return PLATE.fullmatch(value) is not None


class TransportService:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def _vehicle(self, request: etree._Element) -> Vehicle:
        required(request, "MaYeuCau")
        plate = required(request, "BienSo")
        return registry_record(
            "BienSo", plate, self.registry.vehicle, valid=_is_plate, invalid="not a plate number"
        )

    def vehicle(self, request: etree._Element) -> etree._Element:
        reply = {
            "MaYeuCau": required(request, "MaYeuCau"),
            "PhuongTien": vehicle_reply(self._vehicle(request)),
        }
        return element(NAMESPACE, "TraCuuPhuongTienResponse", reply)

    def licence(self, request: etree._Element) -> etree._Element:
        request_id = required(request, "MaYeuCau")
        tax_code = required(request, "MaSoThue")
        licence = registry_record(
            "MaSoThue",
            tax_code,
            self.registry.licence,
            valid=is_tax_code_or_personal_id,  # household businesses: the owner's personal ID
            invalid="not a tax code",
        )
        reply = {"MaYeuCau": request_id, "GiayPhep": licence_reply(licence)}
        return element(NAMESPACE, "TraCuuGiayPhepKinhDoanhResponse", reply)

    def badges(self, request: etree._Element) -> etree._Element:
        vehicle = self._vehicle(request)
        badges = [badge_reply(b) for b in self.registry.badges_of(vehicle.plate)]
        reply = {"MaYeuCau": required(request, "MaYeuCau"), "PhuHieu": badges}
        return element(NAMESPACE, "TraCuuPhuHieuResponse", reply)


def create_app(
    faults: Faults | None = None,
    *,
    seed: int = DEFAULT_SEED,
    credentials: tuple[str, str] | None = None,
) -> tuple[ASGIApp, SimulatorState]:
    """The simulator's ASGI app; ``credentials`` makes it demand a WS-Security UsernameToken."""
    service = TransportService(build(seed))
    operations = {
        "TraCuuPhuongTien": service.vehicle,
        "TraCuuGiayPhepKinhDoanh": service.licence,
        "TraCuuPhuHieu": service.badges,
    }
    routes = soap_routes(PATH, WSDL, operations, xsds=[XSD], credentials=credentials)
    return simulator_app(routes, faults or Faults())
