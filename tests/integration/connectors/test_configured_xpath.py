"""A configured SOAP dataset read with XPath and declared namespaces, against the SOAP 1.2 land
registry simulator: the same record as with JSON pointers into zeep's result."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.generic.problems import SpecProblem
from connectors.generic.replies import compile_fields
from connectors.kinds import builder
from router.providers import CallPolicy, DataRequest, RequestContext
from simulators import soap12_land
from simulators.server import SimulatorServer
from tests.support.simulators import serving

LAND = soap12_land.LandRegistry()
REQUEST = {
    "MaYeuCau": "{request_id}",
    "MaDVC": "{procedure}",
    "MaHoSo": "{dossier}",
    "CanBo": "{official}",
    "MaThuaDat": "{subject.parcel_id}",
}
BY_POINTER = {
    "parcelId": "/ThuaDat/MaThuaDat",
    "area": {"path": "/ThuaDat/DienTich", "type": "number"},
    "uses": {"each": "/ThuaDat/MucDichSuDung"},
    "owners": {
        "each": "/ThuaDat/ChuSuDung",
        "fields": {
            "fullName": {"join": ["/Ho", "/ChuDem", "/Ten"]},
            "sex": {"path": "/GioiTinh", "map": {"Nam": "male", "Nữ": "female"}},
        },
    },
}
BY_XPATH = {
    "parcelId": {"xpath": "l:ThuaDat/l:MaThuaDat"},
    "area": {"xpath": "number(l:ThuaDat/l:DienTich)", "type": "number"},
    "uses": {"each": {"xpath": "l:ThuaDat/l:MucDichSuDung"}},
    "owners": {
        "each": {"xpath": "l:ThuaDat/l:ChuSuDung"},
        "fields": {
            "fullName": {"xpath": "normalize-space(concat(l:Ho, ' ', l:ChuDem, ' ', l:Ten))"},
            "sex": {"xpath": "l:GioiTinh", "map": {"Nam": "male", "Nữ": "female"}},
        },
    },
}


@pytest.fixture(scope="module")
def land() -> Iterator[SimulatorServer]:
    with serving(soap12_land.create_app(LAND)[0]) as server:
        yield server


async def fetch(land: SimulatorServer, tmp_path: Path, reply: dict[str, Any], parcel: str) -> dict[str, Any]:
    settings = ConnectorSettings(
        name="land",
        kind="soap",
        url=f"{land.url}{soap12_land.PATH}",
        call_policy=CallPolicy(max_attempts=1),
        options={
            "wsdl": str(soap12_land.WSDL),
            "namespaces": {"l": soap12_land.NAMESPACE},
            "datasets": {"land.parcel": {"operation": "TraCuuThuaDat", "request": REQUEST, "reply": reply}},
        },
    )
    connector = builder("soap")(settings, ConnectorDeps(CollectorRegistry(), tmp_path, tmp_path))
    try:
        provider = connector.provider()
        assert provider is not None
        return await provider.fetch(DataRequest("land.parcel", {"parcel_id": parcel}, RequestContext()))
    finally:
        await connector.aclose()


async def test_xpath_gives_the_record_pointers_give(land: SimulatorServer, tmp_path: Path) -> None:
    for parcel in list(LAND.parcels)[:4]:
        by_xpath = await fetch(land, tmp_path, BY_XPATH, parcel)
        assert by_xpath == await fetch(land, tmp_path, BY_POINTER, parcel)
        assert by_xpath["parcelId"] == parcel and by_xpath["owners"]


def test_xpath_mistakes_are_problems_at_their_path() -> None:
    problems: list[SpecProblem] = []
    compile_fields(
        {"a": {"xpath": "l:ThuaDat/["}, "b": {"xpath": "x:Y"}},
        ("reply",),
        problems,
        namespaces={"l": "urn:x"},
    )
    assert [p.path for p in problems] == [("reply", "a", "xpath"), ("reply", "b", "xpath")]
    problems = []
    compile_fields({"a": {"xpath": "l:A"}}, ("reply",), problems)  # a JSON reply: no XML to read
    assert [p.path for p in problems] == [("reply", "a", "xpath")]
