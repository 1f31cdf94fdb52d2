"""A land registry (sổ địa chính) simulator speaking SOAP 1.2, document/literal, described by
``contracts/land.wsdl``: the registry a province connects by configuration alone (``kind: soap``).

``TraCuuThuaDat`` answers a parcel by its code (``<province>-<sheet>-<parcel>``, e.g.
``H46-0012-00345``) with its owners, drawn from the seeded citizens. A parcel it does not hold is
the WSDL's declared fault ``ThuaDatKhongTonTai`` (code ``Sender``, subcode ``KHONG_TIM_THAY``);
``busy_next`` answers the next requests with a ``Receiver`` fault, subcode ``HE_THONG_BAN`` (the
registry is busy: worth trying again). ``requests`` keeps the request elements' fields.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from adapters.xml import XmlLimits, XmlRejected, parse_xml
from simulators.registry_data import DEFAULT_SEED, Registry, build
from simulators.server import Faults, SimulatorState, simulator_app
from simulators.soap_service import ADDRESS_PLACEHOLDER

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NAMESPACE = "urn:lienthong:sim:land:v1"
WSDL = Path(__file__).parent / "contracts" / "land.wsdl"
PATH = "/land"
MEDIA_TYPE = "application/soap+xml; charset=utf-8"
LIMITS = XmlLimits(max_bytes=256 * 1024, max_depth=32)
SEX = {"M": "Nam", "F": "Nữ"}


class Soap12Fault(Exception):
    def __init__(self, code: str, subcode: str, reason: str, detail: etree._Element | None = None) -> None:
        super().__init__(reason)
        self.code, self.subcode, self.reason, self.detail = code, subcode, reason, detail


def parcels(registry: Registry) -> dict[str, dict[str, Any]]:
    """Ten parcels, each owned by one or two of the seeded citizens."""
    found = {}
    citizens = registry.citizens
    for i in range(10):
        code = f"H46-{i + 1:04d}-{(i * 37) % 1000:05d}"
        owners = [citizens[i]] + ([citizens[i + 10]] if i % 3 == 0 else [])
        found[code] = {
            "MaThuaDat": code,
            "SoTo": i + 1,
            "SoThua": (i * 37) % 1000,
            "DienTich": f"{120 + i * 15}.5",
            "MucDichSuDung": ["ODT"] if i % 2 else ["ODT", "CLN"],
            "DiaChi": f"Thửa {i + 1}, phường Đồng Hới, tỉnh Quảng Trị",
            "ChuSuDung": [
                {
                    "SoDinhDanh": c.personal_id,
                    "Ho": c.ho,
                    "ChuDem": c.chu_dem or None,
                    "Ten": c.ten,
                    "GioiTinh": SEX[c.sex],
                    "NamSinh": c.date_of_birth[:4],
                }
                for c in owners
            ],
            "NgayCapGiay": f"20{10 + i:02d}-0{1 + i % 9}-15" if i % 4 else None,
        }
    return found


@dataclass
class LandRegistry:
    registry: Registry = field(default_factory=build)
    busy_next: int = 0
    requests: list[dict[str, str]] = field(default_factory=list)
    # bearer tokens accepted (token -> expiry, time.monotonic()), e.g. an OAuth2 server's; None: no
    # token asked. A call without a valid one is answered HTTP 401, as a gateway in front would.
    accepted_tokens: Mapping[str, float] | None = None

    def authorised(self, header: str) -> bool:
        if self.accepted_tokens is None:
            return True
        expires = self.accepted_tokens.get(header.removeprefix("Bearer "))
        return header.startswith("Bearer ") and expires is not None and time.monotonic() < expires

    def __post_init__(self) -> None:
        self.parcels = parcels(self.registry)

    def lookup(self, request: etree._Element) -> etree._Element:
        fields = {etree.QName(e).localname: (e.text or "") for e in request if isinstance(e.tag, str)}
        self.requests.append(fields)
        if self.busy_next > 0:
            self.busy_next -= 1
            raise Soap12Fault("Receiver", "HE_THONG_BAN", "Hệ thống đang bận")
        parcel = self.parcels.get(fields.get("MaThuaDat", ""))
        if parcel is None:
            detail = etree.Element(etree.QName(NAMESPACE, "ThuaDatKhongTonTai"))
            etree.SubElement(detail, etree.QName(NAMESPACE, "MaThuaDat")).text = fields.get("MaThuaDat", "")
            raise Soap12Fault("Sender", "KHONG_TIM_THAY", "Không tìm thấy thửa đất", detail)
        reply = etree.Element(etree.QName(NAMESPACE, "TraCuuThuaDatResponse"))
        _fill(etree.SubElement(reply, etree.QName(NAMESPACE, "ThuaDat")), parcel)
        return reply


def _fill(element: etree._Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            for one in item if isinstance(item, list) else [item]:
                if one is not None:
                    _fill(etree.SubElement(element, etree.QName(NAMESPACE, key)), one)
    else:
        element.text = str(value)


def envelope(content: etree._Element) -> bytes:
    env = etree.Element(etree.QName(SOAP12, "Envelope"), nsmap={"env": SOAP12, "land": NAMESPACE})
    etree.SubElement(env, etree.QName(SOAP12, "Body")).append(content)
    return bytes(etree.tostring(env, xml_declaration=True, encoding="utf-8"))


def fault_envelope(fault: Soap12Fault) -> bytes:
    element = etree.Element(etree.QName(SOAP12, "Fault"))
    code = etree.SubElement(element, etree.QName(SOAP12, "Code"))
    etree.SubElement(code, etree.QName(SOAP12, "Value")).text = f"env:{fault.code}"
    subcode = etree.SubElement(code, etree.QName(SOAP12, "Subcode"))
    etree.SubElement(subcode, etree.QName(SOAP12, "Value")).text = f"land:{fault.subcode}"
    reason = etree.SubElement(element, etree.QName(SOAP12, "Reason"))
    text = etree.SubElement(reason, etree.QName(SOAP12, "Text"))
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "vi")
    text.text = fault.reason
    if fault.detail is not None:
        etree.SubElement(element, etree.QName(SOAP12, "Detail")).append(fault.detail)
    return envelope(element)


def serve(faults: Faults | None = None, *, seed: int = DEFAULT_SEED) -> tuple[ASGIApp, SimulatorState]:
    """The simulator as ``lienthong simulate land`` runs it."""
    return create_app(LandRegistry(build(seed)), faults)


def create_app(
    land: LandRegistry | None = None, faults: Faults | None = None
) -> tuple[ASGIApp, SimulatorState]:
    land = land or LandRegistry()
    wsdl_text = WSDL.read_text("utf-8")

    async def call(request: Request) -> Response:
        if request.method == "GET":
            if "wsdl" not in request.query_params:
                return Response("add ?wsdl", status_code=404)
            address = str(request.url.replace(query=""))
            return Response(wsdl_text.replace(ADDRESS_PLACEHOLDER + "land", address), media_type=MEDIA_TYPE)
        if not land.authorised(request.headers.get("authorization", "")):
            return Response("a valid bearer token is required", status_code=401)
        try:
            content = _dispatch(await request.body(), land)
        except Soap12Fault as fault:
            status = 400 if fault.code == "Sender" else 500
            return Response(fault_envelope(fault), status_code=status, media_type=MEDIA_TYPE)
        return Response(envelope(content), media_type=MEDIA_TYPE)

    return simulator_app([Route(PATH, call, methods=["GET", "POST"])], faults or Faults())


def _dispatch(data: bytes, land: LandRegistry) -> etree._Element:
    try:
        root = parse_xml(data, LIMITS)
    except XmlRejected as error:
        raise Soap12Fault("Sender", "INVALID_XML", error.reason) from None
    if root.tag != f"{{{SOAP12}}}Envelope":
        raise Soap12Fault("Sender", "NOT_A_SOAP_1_2_ENVELOPE", "not a SOAP 1.2 envelope")
    body = root.find(f"{{{SOAP12}}}Body")
    request = next((e for e in body if isinstance(e.tag, str)), None) if body is not None else None
    if request is None or etree.QName(request).localname != "TraCuuThuaDat":
        raise Soap12Fault("Sender", "UNKNOWN_OPERATION", "unknown operation")
    return land.lookup(request)
