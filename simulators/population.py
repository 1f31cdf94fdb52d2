"""A simulator of the population database: a real SOAP server with its own WSDL and XSD.

Operations (``population.wsdl``): ``TraCuuCongDan`` looks a citizen up by 12-digit personal ID;
``XacThucCongDan`` verifies an identity (ID + full name + date of birth) and says which fields
did not match. Unknown IDs are a ``Client`` fault ``KHONG_TIM_THAY`` (not found); malformed
input a ``Client`` fault ``INVALID_INPUT``. Data: :mod:`simulators.registry_data`.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from lxml import etree
from starlette.types import ASGIApp

from router.identifiers import is_personal_id
from simulators.registry_data import DEFAULT_SEED, Address, Citizen, Registry, build
from simulators.server import Faults, SimulatorState, simulator_app
from simulators.soap_service import CONTRACTS, registry_record, required, soap_routes
from simulators.soap_service import build as element

NAMESPACE = "urn:lienthong:sim:population:v1"
PATH = "/population"  # where the service answers (its WSDL at ?wsdl, its XSD at /population.xsd)
WSDL = CONTRACTS / "population.wsdl"
XSD = CONTRACTS / "population.xsd"


def address(value: Address) -> dict[str, str | None]:
    """``DiaChi``; no ``QuanHuyen`` in an address of the two-level administration."""
    return {
        "SoNhaDuong": value.street,
        "PhuongXa": value.ward,
        "QuanHuyen": value.district,
        "TinhThanh": value.province,
        "DiaChiDayDu": value.text(),
    }


def citizen_reply(citizen: Citizen) -> dict[str, Any]:
    return {
        "SoDinhDanh": citizen.personal_id,
        "HoVaTen": {"Ho": citizen.ho, "ChuDem": citizen.chu_dem or None, "Ten": citizen.ten},
        "GioiTinh": "Nam" if citizen.sex == "M" else "Nữ",
        "NgayThangNamSinh": citizen.date_of_birth,  # yyyy-mm-dd, or yyyy where only the year is known
        "ThuongTru": address(citizen.permanent),
        "NoiOHienTai": address(citizen.current),
    }


def _same_name(a: str, b: str) -> bool:
    # Names are compared as people write them: any Unicode normalisation, case and spacing.
    def norm(s: str) -> str:
        return " ".join(unicodedata.normalize("NFC", s).casefold().split())

    return norm(a) == norm(b)


class PopulationService:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def _citizen(self, request: etree._Element) -> Citizen:
        personal_id = required(request, "SoDinhDanh")
        required(request, "MaYeuCau")
        return registry_record(
            "SoDinhDanh",
            personal_id,
            self.registry.citizen,
            valid=is_personal_id,
            invalid="not a personal ID",
        )

    def lookup(self, request: etree._Element) -> etree._Element:
        citizen = self._citizen(request)
        reply = {"MaYeuCau": required(request, "MaYeuCau"), "CongDan": citizen_reply(citizen)}
        return element(NAMESPACE, "TraCuuCongDanResponse", reply)

    def verify(self, request: etree._Element) -> etree._Element:
        citizen = self._citizen(request)
        name = required(request, "HoVaTen")
        born = required(request, "NgayThangNamSinh")
        mismatched = []
        if not _same_name(name, citizen.full_name):
            mismatched.append("HoVaTen")
        expected = citizen.date_of_birth
        if born not in (expected, expected[:4]):
            mismatched.append("NgayThangNamSinh")
        reply = {
            "MaYeuCau": required(request, "MaYeuCau"),
            "KetQua": not mismatched,
            "TruongSaiLech": mismatched,
        }
        return element(NAMESPACE, "XacThucCongDanResponse", reply)


def create_app(
    faults: Faults | None = None,
    *,
    seed: int = DEFAULT_SEED,
    credentials: tuple[str, str] | None = None,
) -> tuple[ASGIApp, SimulatorState]:
    """The simulator's ASGI app; ``credentials`` makes it demand a WS-Security UsernameToken."""
    service = PopulationService(build(seed))
    routes = soap_routes(
        PATH,
        WSDL,
        {"TraCuuCongDan": service.lookup, "XacThucCongDan": service.verify},
        xsds=[XSD],
        credentials=credentials,
    )
    return simulator_app(routes, faults or Faults())
