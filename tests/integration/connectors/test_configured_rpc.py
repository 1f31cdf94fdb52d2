"""A configured SOAP dataset on an rpc/literal SOAP 1.1 binding: the request's parts from the
query, the reply's parts mapped with pointers, "not found" by a status part."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree
from prometheus_client import CollectorRegistry

from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.kinds import builder
from router.providers import CallPolicy, DataRequest, RequestContext, SubjectNotFound
from simulators.server import Faults, SimulatorServer, simulator_app
from simulators.soap_service import child_text, soap_routes
from tests.support.paths import DATA
from tests.support.simulators import serving

NAMESPACE = "urn:lienthong:test:civil"
WSDL = DATA / "wsdl" / "civil_status_rpc.wsdl"
BORN = {"001090000001": ("Trần Thị Mai", "1990-02-03", "Đồng Hới")}
SEEN: list[dict[str, str | None]] = []


def lookup(request: etree._Element) -> etree._Element:
    personal_id = child_text(request, "SoDinhDanh") or ""
    SEEN.append({"SoDinhDanh": personal_id, "MaHoSo": child_text(request, "MaHoSo")})
    reply = etree.Element(etree.QName(NAMESPACE, "TraCuuKhaiSinhResponse"))
    found = BORN.get(personal_id)
    etree.SubElement(reply, "TrangThai").text = "OK" if found else "KHONG_CO"
    record = etree.SubElement(reply, "KhaiSinh")
    name, born, place = found or ("", "1900-01-01", "")
    for tag, text in (("SoDinhDanh", personal_id), ("HoTen", name), ("NgaySinh", born), ("NoiSinh", place)):
        etree.SubElement(record, tag).text = text
    return reply


@pytest.fixture(scope="module")
def registry() -> Iterator[SimulatorServer]:
    app, _ = simulator_app(soap_routes("/civil", WSDL, {"TraCuuKhaiSinh": lookup}), Faults())
    with serving(app) as server:
        yield server


async def test_an_rpc_literal_operation(registry: SimulatorServer, tmp_path: Path) -> None:
    settings = ConnectorSettings(
        name="civil",
        kind="soap",
        url=f"{registry.url}/civil",
        call_policy=CallPolicy(max_attempts=1),
        options={
            "wsdl": str(WSDL),
            "datasets": {
                "civil.birth": {
                    "operation": "TraCuuKhaiSinh",
                    "request": {"SoDinhDanh": "{subject.personal_id}", "MaHoSo": "{dossier}"},
                    "reply": {
                        "personalId": "/KhaiSinh/SoDinhDanh",
                        "fullName": "/KhaiSinh/HoTen",
                        "dateOfBirth": "/KhaiSinh/NgaySinh",
                        "placeOfBirth": "/KhaiSinh/NoiSinh",
                    },
                    "not_found": [{"path": "/TrangThai", "equals": "KHONG_CO"}],
                }
            },
        },
    )
    connector = builder("soap")(settings, ConnectorDeps(CollectorRegistry(), tmp_path, tmp_path))
    await connector.start()
    provider = connector.provider()
    assert provider is not None
    try:
        record = await provider.fetch(
            DataRequest("civil.birth", {"personal_id": "001090000001"}, RequestContext(dossier="D-7"))
        )
        with pytest.raises(SubjectNotFound):
            await provider.fetch(
                DataRequest("civil.birth", {"personal_id": "001090000002"}, RequestContext())
            )
    finally:
        await connector.aclose()
    assert record == {
        "personalId": "001090000001",
        "fullName": "Trần Thị Mai",
        "dateOfBirth": "1990-02-03",
        "placeOfBirth": "Đồng Hới",
    }
    assert SEEN[0] == {"SoDinhDanh": "001090000001", "MaHoSo": "D-7"}
