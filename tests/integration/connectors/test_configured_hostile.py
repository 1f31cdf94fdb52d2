"""Bad input to a configured SOAP dataset: a hostile WSDL (a DTD, an import from another host, a
file outside its folder, too large) is refused as ``invalid_provider_contract`` before any call; a
reply that breaks the dataset's schema file is ``invalid_provider_reply``, naming pointers, never
a value."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.kinds import builder
from router.providers import (
    CallPolicy,
    DataRequest,
    InvalidProviderContract,
    InvalidProviderReply,
    RequestContext,
)
from simulators import soap12_land
from simulators.server import SimulatorServer
from tests.support.simulators import requests_seen, serving

LAND = soap12_land.LandRegistry()
PARCEL = next(iter(LAND.parcels))
DATASET: dict[str, Any] = {
    "operation": "TraCuuThuaDat",
    "request": {
        "MaYeuCau": "{request_id}",
        "MaDVC": "{procedure}",
        "MaHoSo": "{dossier}",
        "CanBo": "{official}",
        "MaThuaDat": "{subject.parcel_id}",
    },
    "reply": {"parcelId": "/ThuaDat/MaThuaDat", "owners": {"each": "/ThuaDat/ChuSuDung", "item": "/Ten"}},
}


@pytest.fixture(scope="module")
def land() -> Iterator[SimulatorServer]:
    with serving(soap12_land.create_app(LAND)[0]) as server:
        yield server


def connector(folder: Path, url: str, wsdl: str, dataset: dict[str, Any] | None = None) -> Any:
    settings = ConnectorSettings(
        name="land",
        kind="soap",
        url=f"{url}{soap12_land.PATH}",
        call_policy=CallPolicy(max_attempts=1),
        options={"wsdl": wsdl, "datasets": {"land.parcel": dataset or DATASET}},
    )
    return builder("soap")(settings, ConnectorDeps(CollectorRegistry(), folder, folder))


def hostile_copy(folder: Path, change: Any) -> str:
    text = soap12_land.WSDL.read_text("utf-8")
    path = folder / "land.wsdl"
    path.write_text(change(text), "utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("name", "change", "said"),
    [
        (
            "a DTD",
            lambda t: t.replace(
                '<?xml version="1.0" encoding="UTF-8"?>',
                '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE x [<!ENTITY a "aaaa">]>',
            ),
            "DTD",
        ),
        (
            "an import from another host",
            lambda t: t.replace(
                "<wsdl:types>",
                '<wsdl:import namespace="urn:x" location="http://203.0.113.9/x.wsdl"/><wsdl:types>',
            ),
            "not the service's host",
        ),
        (
            "a file outside its folder",
            lambda t: t.replace(
                "<wsdl:types>", '<wsdl:import namespace="urn:x" location="../outside/x.wsdl"/><wsdl:types>'
            ),
            "outside its own folder",
        ),
        (
            "too large",
            lambda t: t.replace("<wsdl:types>", "<!--" + "x" * (5 * 1024 * 1024) + "--><wsdl:types>"),
            "larger",
        ),
    ],
)
async def test_a_hostile_wsdl_is_refused_before_any_call(
    land: SimulatorServer, tmp_path: Path, name: str, change: Any, said: str
) -> None:
    before = requests_seen(land.url)
    built = connector(tmp_path, land.url, hostile_copy(tmp_path, change))
    try:
        with pytest.raises(InvalidProviderContract) as raised:
            await built.start()
    finally:
        await built.aclose()
    assert raised.value.code == "invalid_provider_contract" and said in raised.value.detail
    assert requests_seen(land.url) == before


async def test_an_operation_the_wsdl_lacks_is_refused_at_start(land: SimulatorServer, tmp_path: Path) -> None:
    wsdl = shutil.copy(soap12_land.WSDL, tmp_path / "land.wsdl")
    built = connector(tmp_path, land.url, str(wsdl), {**DATASET, "operation": "TraCuuSoDo"})
    try:
        with pytest.raises(InvalidProviderContract, match=r"no operation for land\.parcel: TraCuuSoDo"):
            await built.start()
    finally:
        await built.aclose()


async def test_a_path_the_reply_lacks_and_a_record_that_breaks_its_schema(
    land: SimulatorServer, tmp_path: Path
) -> None:
    wsdl = str(shutil.copy(soap12_land.WSDL, tmp_path / "land.wsdl"))
    schema = tmp_path / "land.parcel.json"
    schema.write_text(
        '{"type": "object", "properties": {"owners": {"items": {"pattern": "^[0-9]+$"}}}}', "utf-8"
    )
    request = DataRequest("land.parcel", {"parcel_id": PARCEL}, RequestContext())
    lacking = connector(tmp_path, land.url, wsdl, {**DATASET, "reply": {"x": "/ThuaDat/SoDoKhong"}})
    breaking = connector(tmp_path, land.url, wsdl, {**DATASET, "schema": str(schema)})
    try:
        with pytest.raises(InvalidProviderReply) as missing:
            await lacking.provider().fetch(request)
        with pytest.raises(InvalidProviderReply) as invalid:
            await breaking.provider().fetch(request)
    finally:
        await lacking.aclose()
        await breaking.aclose()
    assert "/ThuaDat/SoDoKhong" in missing.value.detail
    owner = LAND.parcels[PARCEL]["ChuSuDung"][0]["Ten"]
    assert "/owners/0" in invalid.value.detail and owner not in invalid.value.detail
