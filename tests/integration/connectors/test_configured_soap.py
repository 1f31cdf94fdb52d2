"""Datasets configured from YAML alone (``kind: soap``), fetched through the evidence API of the
bus under uvicorn: the SOAP 1.2 land registry simulator (declared fault, a busy fault retried) and
the EU VIES checkVat service from its published WSDL (a local stand-in)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from simulators import soap12_land
from simulators.server import SimulatorServer
from tests.support.bus import ONESTOP, BusConfig, BusProcess
from tests.support.evidence import AUDIT_KEY, AUDIT_KEY_ENV
from tests.support.paths import ROOT
from tests.support.simulators import requests_seen, serving
from tests.support.vies import PATH as VIES_PATH
from tests.support.vies import WSDL as VIES_WSDL
from tests.support.vies import Vies
from tests.support.vies import create_app as vies_app

LAND = soap12_land.LandRegistry()
PARCEL = next(iter(LAND.parcels))
OFFICIAL = {"X-Official-Id": "canbo.motcua.01"}
DOSSIER = "000.00.00.H49-261127-0001"
SCHEMA = ROOT / "examples" / "contracts" / "land.parcel.json"


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[dict[str, SimulatorServer]]:
    with serving(soap12_land.create_app(LAND)[0]) as land, serving(vies_app(Vies())[0]) as vies:
        yield {"land": land, "vies": vies}


def connectors(urls: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "name": "land",
            "kind": "soap",
            "url": f"{urls['land']}{soap12_land.PATH}",
            "timeout": "2s",
            "deadline": "4s",
            "max_attempts": 3,
            "options": {
                "wsdl": str(soap12_land.WSDL),
                "service": "LandRegistryService",
                "port": "LandRegistrySoap12",
                "retryable_faults": ["HE_THONG_BAN"],
                "datasets": {
                    "land.parcel": {
                        "operation": "TraCuuThuaDat",
                        "request": {
                            "MaYeuCau": "{request_id}",
                            "MaDVC": "{procedure}",
                            "MaHoSo": "{dossier}",
                            "CanBo": "{official}",
                            "MaThuaDat": "{subject.parcel_id}",
                        },
                        "reply": {
                            "parcelId": "/ThuaDat/MaThuaDat",
                            "area": {"path": "/ThuaDat/DienTich", "type": "number"},
                            "uses": {"each": "/ThuaDat/MucDichSuDung"},
                            "address": "/ThuaDat/DiaChi",
                            "certificateIssuedOn": {
                                "path": "/ThuaDat/NgayCapGiay",
                                "type": "date",
                                "optional": True,
                            },
                            "owners": {
                                "each": "/ThuaDat/ChuSuDung",
                                "fields": {
                                    "personalId": "/SoDinhDanh",
                                    "fullName": {"join": ["/Ho", "/ChuDem", "/Ten"]},
                                    "sex": {"path": "/GioiTinh", "map": {"Nam": "male", "Nữ": "female"}},
                                    "yearOfBirth": "/NamSinh",
                                },
                            },
                        },
                        "not_found": [{"fault": "ThuaDatKhongTonTai"}],
                        "schema": str(SCHEMA),
                    }
                },
            },
        },
        {
            "name": "vies",
            "kind": "soap",
            "url": f"{urls['vies']}{VIES_PATH}",
            "timeout": "2s",
            "deadline": "4s",
            "options": {
                "wsdl": str(VIES_WSDL),
                "retryable_faults": ["MS_UNAVAILABLE", "TIMEOUT", "SERVICE_UNAVAILABLE"],
                "datasets": {
                    "vat.registration": {
                        "operation": "checkVat",
                        "request": {"countryCode": "{subject.country}", "vatNumber": "{subject.vat_number}"},
                        "reply": {
                            "country": "/countryCode",
                            "vatNumber": "/vatNumber",
                            "name": "/name",
                            "address": "/address",
                            "checkedOn": {"path": "/requestDate", "type": "date"},
                        },
                        "not_found": [{"path": "/valid", "equals": False}],
                    }
                },
            },
        },
    ]


@pytest.fixture(scope="module")
def bus_config(
    stand_ins: dict[str, SimulatorServer], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BusConfig]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(AUDIT_KEY_ENV, AUDIT_KEY)
        yield BusConfig(
            tmp_path_factory.mktemp("configured"),
            extra_policies=[
                {
                    "systems": [ONESTOP],
                    "request": [
                        {"datasets": ["*"], "procedures": ["1.000001"], "purposes": ["dossier_processing"]}
                    ],
                }
            ],
            sections={
                "connectors": connectors({name: server.url for name, server in stand_ins.items()}),
                "datasets": [
                    {
                        "name": "land.parcel",
                        "provider": "land",
                        "key": ["parcel_id"],
                        "personal_data": "personal",
                        "subject_in_record": "/owners/0/personalId",
                        "cache": "1m",
                        "fields": {"dossier_processing": "*"},
                    },
                    {
                        "name": "vat.registration",
                        "provider": "vies",
                        "key": ["country", "vat_number"],
                        "personal_data": "none",
                        "fields": {"dossier_processing": "*"},
                    },
                ],
                "audit": {"path": "audit.db", "subject_key_env": AUDIT_KEY_ENV},
            },
        )


def query(dataset: str, subject: dict[str, str]) -> dict[str, Any]:
    return {
        "dataset": dataset,
        "subject": subject,
        "procedure": "1.000001",
        "dossier": DOSSIER,
        "purpose": "dossier_processing",
    }


def test_a_parcel_from_the_soap_12_registry_mapped_as_configured(bus: BusProcess) -> None:
    with bus.client(ONESTOP) as client:
        answer = client.post(
            "/v1/evidence:query", json=query("land.parcel", {"parcel_id": PARCEL}), headers=OFFICIAL
        )
    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    parcel = LAND.parcels[PARCEL]
    owner = parcel["ChuSuDung"][0]
    assert data["parcelId"] == PARCEL and data["area"] == float(parcel["DienTich"])
    assert data["owners"][0]["personalId"] == owner["SoDinhDanh"]
    assert data["owners"][0]["sex"] == {"Nam": "male", "Nữ": "female"}[owner["GioiTinh"]]
    assert data["owners"][0]["yearOfBirth"] == owner["NamSinh"]
    # the request carried the query's procedure, dossier and official
    sent = LAND.requests[-1]
    assert (sent["MaThuaDat"], sent["MaDVC"], sent["MaHoSo"], sent["CanBo"]) == (
        PARCEL,
        "1.000001",
        DOSSIER,
        "canbo.motcua.01",
    )
    assert sent["MaYeuCau"] == answer.json()["provenance"]["request_id"]


def test_the_declared_fault_is_not_found(bus: BusProcess, stand_ins: dict[str, SimulatorServer]) -> None:
    before = requests_seen(stand_ins["land"].url)
    with bus.client(ONESTOP) as client:
        answer = client.post(
            "/v1/evidence:query", json=query("land.parcel", {"parcel_id": "H46-9999-00001"}), headers=OFFICIAL
        )
    assert answer.status_code == 404, answer.text
    assert answer.json()["code"] == "subject_not_found"
    assert "H46-9999-00001" not in answer.text
    assert requests_seen(stand_ins["land"].url) - before == 1  # not retried


def test_a_busy_fault_configured_retryable_is_retried(
    bus: BusProcess, stand_ins: dict[str, SimulatorServer]
) -> None:
    other = list(LAND.parcels)[1]
    before = requests_seen(stand_ins["land"].url)
    LAND.busy_next = 1
    with bus.client(ONESTOP) as client:
        answer = client.post(
            "/v1/evidence:query", json=query("land.parcel", {"parcel_id": other}), headers=OFFICIAL
        )
    assert answer.status_code == 200, answer.text
    assert requests_seen(stand_ins["land"].url) - before == 2


def test_vies_configured_from_its_published_wsdl(bus: BusProcess) -> None:
    with bus.client(ONESTOP) as client:
        known = client.post(
            "/v1/evidence:query",
            json=query("vat.registration", {"country": "BE", "vat_number": "0403170701"}),
        )
        unknown = client.post(
            "/v1/evidence:query", json=query("vat.registration", {"country": "DE", "vat_number": "123456789"})
        )
    assert known.status_code == 200, known.text
    assert known.json()["data"] == {
        "country": "BE",
        "vatNumber": "0403170701",
        "name": "SA ODOO",
        "address": "Chaussée de Namur 40\n1367 Ramillies",
        "checkedOn": "2024-05-01",
    }
    assert unknown.status_code == 404 and unknown.json()["code"] == "subject_not_found"


def test_vies_invalid_input_is_the_providers_refusal(bus: BusProcess) -> None:
    with bus.client(ONESTOP) as client:
        refused = client.post(
            "/v1/evidence:query", json=query("vat.registration", {"country": "be", "vat_number": "?"})
        )
    assert refused.status_code == 502 and refused.json()["code"] == "provider_fault"
