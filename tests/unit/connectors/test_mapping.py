"""The connectors' mappings, agency shape -> dataset shape, on every record of the seeded
registries: each output is valid against its dataset schema."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from connectors.business.mapping import business_registration
from connectors.population.mapping import citizen_identity, citizen_residence, verification
from connectors.vehicle.mapping import transport_licence, vehicle_registration
from schemas.dataset_schemas import shipped
from simulators.business import enterprise_reply
from simulators.population import citizen_reply
from simulators.registry_data import build
from simulators.vehicle import badge_reply, licence_reply, vehicle_reply

REGISTRY = build()


def valid(dataset: str, data: Any) -> Any:
    assert shipped().validate(dataset, data) == (), data
    return data


def test_citizens() -> None:
    for citizen in REGISTRY.citizens:
        reply = citizen_reply(citizen)
        identity = valid("citizen.identity", citizen_identity(reply))
        residence = valid("citizen.residence", citizen_residence(reply))
        assert identity["fullName"] == citizen.full_name
        assert identity["sex"] == {"M": "male", "F": "female"}[citizen.sex]
        assert residence["current"]["text"] == citizen.current.text()


def test_a_citizen_as_the_soap_adapter_returns_it() -> None:
    # zeep gives dates as datetime.date and leaves out an absent ChuDem
    reply = citizen_reply(REGISTRY.citizens[0])
    reply["NgayThangNamSinh"] = datetime.date.fromisoformat(REGISTRY.citizens[0].date_of_birth)
    reply["HoVaTen"] = {"Ho": "Lê", "ChuDem": None, "Ten": "An"}
    identity = valid("citizen.identity", citizen_identity(reply))
    assert identity["fullName"] == "Lê An" and "middleName" not in identity
    assert identity["dateOfBirth"] == REGISTRY.citizens[0].date_of_birth


def test_verification() -> None:
    assert verification({"MaYeuCau": "r", "KetQua": True, "TruongSaiLech": []}) == {
        "matches": True,
        "mismatched": [],
    }
    assert verification({"KetQua": False, "TruongSaiLech": ["HoVaTen", "NgayThangNamSinh"]}) == {
        "matches": False,
        "mismatched": ["fullName", "dateOfBirth"],
    }


def test_enterprises() -> None:
    for firm in REGISTRY.enterprises:
        out = valid("business.registration", business_registration(enterprise_reply(REGISTRY, firm)))
        assert out["taxCode"] == firm.tax_code
        assert [line["main"] for line in out["businessLines"]].count(True) == 1


def test_vehicles_and_licences() -> None:
    for vehicle in REGISTRY.vehicles:
        badges = [badge_reply(b) for b in REGISTRY.badges_of(vehicle.plate)]
        out = valid("vehicle.registration", vehicle_registration(vehicle_reply(vehicle), badges))
        assert out["owner"]["kind"] == ("person" if REGISTRY.citizen(vehicle.owner_id) else "enterprise")
        assert len(out["badges"]) == len(badges)
    for licence in REGISTRY.licences:
        out = valid("transport.licence", transport_licence(licence_reply(licence)))
        assert out["activities"] == list(licence.kinds)


def test_a_mapping_of_bad_agency_data_fails_the_schema() -> None:
    vehicle = vehicle_reply(REGISTRY.vehicles[0])
    vehicle["ChuSoHuu"] = {"MaDinhDanh": "0100109107", "Ten": "x"}  # a wrong check digit
    vehicle["HanKiemDinh"] = datetime.date(2024, 2, 29)
    errors = shipped().validate("vehicle.registration", vehicle_registration(vehicle, []))
    assert [e.pointer for e in errors] == ["/owner/id"]


@pytest.mark.parametrize(
    ("dataset", "data", "pointer"),
    [
        ("citizen.identity", {"personalId": "097000000000"}, "/personalId"),
        (
            "citizen.residence",
            {"personalId": "001090000001", "permanent": {}, "current": {}},
            "/permanent/ward",
        ),
        ("transport.licence", {"taxCode": "0100109106-000"}, "/taxCode"),
    ],
)
def test_invalid_data_is_named_by_pointer(dataset: str, data: dict[str, Any], pointer: str) -> None:
    assert pointer in {e.pointer for e in shipped().validate(dataset, data)}
