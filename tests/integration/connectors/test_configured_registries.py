"""The population, business and vehicle registries as the example configures them (``kind: soap``
and ``kind: rest`` from their contracts in simulators/contracts/) give, for every seeded subject of
the simulators, the reference records of tests/data/registries/, including the awkward ones (a
date of birth known to the year only, no middle name, an address without a district since 1 July
2025, both sexes, a vehicle with a badge or none, an owner who is a person or an enterprise).
Keys without their form are refused before any call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.generic.replies import map_record
from connectors.generic.spec import soap_spec
from connectors.kinds import builder
from router.providers import (
    CallPolicy,
    DataProvider,
    DataRequest,
    InvalidProviderContract,
    InvalidProviderReply,
    InvalidProviderRequest,
    RequestContext,
    SubjectNotFound,
)
from schemas.dataset_schemas import shipped
from simulators.server import SimulatorServer
from tests.support.evidence import EXAMPLE, REGISTRY, registries, registry_connector
from tests.support.paths import DATA
from tests.support.simulators import requests_seen

RECORDS = DATA / "registries"
FAST = CallPolicy(max_attempts=2, initial_backoff_s=0.01, max_backoff_s=0.02)
CONTEXT = RequestContext(procedure="1.002861")


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, SimulatorServer]]:
    with registries() as running:
        yield running


def expected(dataset: str) -> dict[str, Any]:
    """The reference records of every seeded subject, by subject."""
    found: dict[str, Any] = json.loads((RECORDS / f"{dataset}.json").read_text("utf-8"))
    return found


@pytest.fixture
async def configured(
    servers: dict[str, SimulatorServer], tmp_path: Path
) -> AsyncIterator[dict[str, DataProvider]]:
    deps = ConnectorDeps(CollectorRegistry(), tmp_path, config_dir=EXAMPLE.parent)
    connectors = []
    providers = {}
    for name, server in servers.items():
        entry = registry_connector(name, server.url)
        settings = ConnectorSettings(
            name=name, kind=entry["kind"], url=entry["url"], call_policy=FAST, options=entry["options"]
        )
        connector = builder(entry["kind"])(settings, deps)
        await connector.start()
        connectors.append(connector)
        provider = connector.provider()
        assert provider is not None
        providers[name] = provider
    yield providers
    for connector in connectors:
        await connector.aclose()


async def records(provider: DataProvider, dataset: str, key_name: str, keys: list[str]) -> dict[str, Any]:
    return {key: await provider.fetch(DataRequest(dataset, {key_name: key}, CONTEXT)) for key in keys}


def valid(dataset: str, found: dict[str, Any]) -> dict[str, Any]:
    for record in found.values():
        assert shipped().validate(dataset, record) == ()
    return found


async def test_every_citizen_is_the_same_identity_and_residence(configured: dict[str, DataProvider]) -> None:
    ids = [c.personal_id for c in REGISTRY.citizens]
    identities = valid(
        "citizen.identity", await records(configured["population"], "citizen.identity", "personal_id", ids)
    )
    residences = valid(
        "citizen.residence", await records(configured["population"], "citizen.residence", "personal_id", ids)
    )
    assert identities == expected("citizen.identity")
    assert residences == expected("citizen.residence")
    # the awkward cases are among them
    assert any(len(r["dateOfBirth"]) == 4 for r in identities.values())
    assert {r["sex"] for r in identities.values()} == {"male", "female"}
    addresses = [a for r in residences.values() for a in (r["permanent"], r["current"])]
    assert any("district" in a for a in addresses) and any("district" not in a for a in addresses)


def test_a_citizen_without_a_middle_name_has_none_in_the_record() -> None:
    # no seeded citizen lacks one: the reply as zeep gives it (an absent optional element is None)
    spec, problems = soap_spec(
        registry_connector("population", "http://127.0.0.1:9")["options"], EXAMPLE.parent, ""
    )
    assert problems == []
    name = {"Ho": "Lê", "ChuDem": None, "Ten": "Na"}
    reply = {
        "CongDan": {
            "SoDinhDanh": "044190000001",
            "HoVaTen": name,
            "GioiTinh": "Nữ",
            "NgayThangNamSinh": "1990",
        }
    }
    record = map_record(spec.datasets["citizen.identity"].reply, reply)
    assert record == {
        "personalId": "044190000001",
        "fullName": "Lê Na",
        "familyName": "Lê",
        "givenName": "Na",
        "sex": "female",
        "dateOfBirth": "1990",
    }
    assert shipped().validate("citizen.identity", record) == ()


async def test_identities_are_verified_alike(configured: dict[str, DataProvider]) -> None:
    found = {}
    for citizen in REGISTRY.citizens[:12]:
        born = citizen.date_of_birth
        for name, date_of_birth in (
            (citizen.full_name, born),
            (citizen.full_name.upper(), born[:4]),
            ("Nguyễn Không Có", born),
            (citizen.full_name, "1800-01-01" if born != "1800-01-01" else "1801-01-01"),
        ):
            key = {"personal_id": citizen.personal_id, "full_name": name, "date_of_birth": date_of_birth}
            found["|".join(key.values())] = await configured["population"].fetch(
                DataRequest("citizen.verification", key, CONTEXT)
            )
    assert found == expected("citizen.verification")
    assert {r["matches"] for r in found.values()} == {True, False}


async def test_every_enterprise_is_the_same_registration(configured: dict[str, DataProvider]) -> None:
    codes = [e.tax_code for e in REGISTRY.enterprises]
    found = valid(
        "business.registration",
        await records(configured["business"], "business.registration", "tax_code", codes),
    )
    assert found == expected("business.registration")
    assert any("district" not in r["headOffice"] for r in found.values())


async def test_every_vehicle_and_licence_is_the_same(configured: dict[str, DataProvider]) -> None:
    plates = [v.plate for v in REGISTRY.vehicles]
    vehicles = valid(
        "vehicle.registration", await records(configured["vehicle"], "vehicle.registration", "plate", plates)
    )
    codes = [licence.tax_code for licence in REGISTRY.licences]
    licences = valid(
        "transport.licence", await records(configured["vehicle"], "transport.licence", "tax_code", codes)
    )
    assert vehicles == expected("vehicle.registration")
    assert licences == expected("transport.licence")
    assert {len(r["badges"]) > 0 for r in vehicles.values()} == {True, False}
    assert {r["owner"]["kind"] for r in vehicles.values()} == {"person", "enterprise"}
    assert any(len(code) == 12 for code in licences)  # a household business's: its owner's personal ID


async def test_a_citizen_their_company_its_licence_and_vehicles(configured: dict[str, DataProvider]) -> None:
    firm_code = REGISTRY.licences[0].tax_code
    holder = REGISTRY.enterprise(firm_code)
    assert holder is not None
    person = holder.legal_representative

    async def fetch(registry: str, dataset: str, **key: str) -> dict[str, Any]:
        return await configured[registry].fetch(DataRequest(dataset, key, CONTEXT))

    identity = await fetch("population", "citizen.identity", personal_id=person)
    verified = await fetch(
        "population",
        "citizen.verification",
        personal_id=person,
        full_name=identity["fullName"],
        date_of_birth=identity["dateOfBirth"],
    )
    firm = await fetch("business", "business.registration", tax_code=firm_code)
    licence = await fetch("vehicle", "transport.licence", tax_code=firm_code)
    plates = [v.plate for v in REGISTRY.vehicles if v.owner_id == firm_code]
    vehicles = [await fetch("vehicle", "vehicle.registration", plate=plate) for plate in plates]
    assert verified == {"matches": True, "mismatched": []}
    assert firm["legalRepresentative"]["fullName"] == identity["fullName"]
    assert vehicles and all(
        v["owner"] == {"kind": "enterprise", "id": firm_code, "name": firm["name"]} for v in vehicles
    )
    assert {b["licenceNumber"] for v in vehicles for b in v["badges"]} == {licence["licenceNumber"]}


@pytest.mark.parametrize(
    ("registry", "dataset", "key"),
    [
        ("population", "citizen.identity", {"personal_id": "044099000001"}),
        ("business", "business.registration", {"tax_code": "0100109106-999"}),
        ("vehicle", "vehicle.registration", {"plate": "99Z-999.99"}),
        ("vehicle", "transport.licence", {"tax_code": "0100109106"}),
    ],
)
async def test_a_subject_the_registry_lacks_is_not_found(
    configured: dict[str, DataProvider], registry: str, dataset: str, key: dict[str, str]
) -> None:
    with pytest.raises(SubjectNotFound):
        await configured[registry].fetch(DataRequest(dataset, key, CONTEXT))


@pytest.mark.parametrize(
    ("registry", "dataset", "key"),
    [
        ("population", "citizen.identity", {"personal_id": "12345"}),
        ("population", "citizen.residence", {"personal_id": "999000000001"}),
        (
            "population",
            "citizen.verification",
            {"personal_id": "044099000001", "full_name": "A", "date_of_birth": "85"},
        ),
        ("business", "business.registration", {"tax_code": "../../admin"}),
        ("business", "business.registration", {"tax_code": "0100109107"}),  # a wrong check digit
        ("business", "business.registration", {"tax_code": "044099000001"}),  # a person's
        ("vehicle", "vehicle.registration", {"plate": "29A-123.45<x/>"}),
        ("vehicle", "transport.licence", {"tax_code": "not-a-code"}),
    ],
)
async def test_keys_without_their_form_are_refused_before_any_call(
    servers: dict[str, SimulatorServer],
    configured: dict[str, DataProvider],
    registry: str,
    dataset: str,
    key: dict[str, str],
) -> None:
    before = requests_seen(servers[registry].url)
    with pytest.raises(InvalidProviderRequest) as refused:
        await configured[registry].fetch(DataRequest(dataset, key, CONTEXT))
    assert requests_seen(servers[registry].url) == before
    assert all(value not in refused.value.detail for value in key.values() if len(value) > 2)


async def test_config_check_reads_each_calls_pointers_in_its_own_reply(tmp_path: Path) -> None:
    entry = registry_connector("vehicle", "http://127.0.0.1:9")
    reply = entry["options"]["datasets"]["vehicle.registration"]["reply"]
    reply["plate"] = "/badges/PhuongTien/BienSo"  # the vehicle's, read in the badges' reply
    reply["badges"]["each"] = "/trucks/PhuHieu"  # no such call
    settings = ConnectorSettings(name="vehicle", kind="soap", url=entry["url"], options=entry["options"])
    connector = builder("soap")(settings, ConnectorDeps(CollectorRegistry(), tmp_path))
    try:
        problems = await connector.contract_problems()  # type: ignore[attr-defined]
    finally:
        await connector.aclose()
    found = {(p.path[-1], p.message) for p in problems}
    assert ("plate", "the reply of TraCuuPhuHieu has no /PhuongTien/BienSo in the WSDL's types") in found
    assert any(
        path == "badges" and "does not start with the name of one of the dataset's calls" in m
        for path, m in found
    )


async def test_a_reply_that_breaks_the_reply_xsd_is_invalid_and_not_quoted(
    servers: dict[str, SimulatorServer], tmp_path: Path
) -> None:
    entry = registry_connector("population", servers["population"].url)
    original = Path(entry["options"]["reply_xsd"])
    # the simulator's replies checked against a stricter schema: a date of birth of the 1800s
    strict = original.read_text("utf-8").replace(
        '<xs:element name="NgayThangNamSinh" type="tns:NgaySinh"/>',
        '<xs:element name="NgayThangNamSinh"><xs:simpleType><xs:restriction base="xs:string">'
        '<xs:pattern value="18[0-9]{2}"/></xs:restriction></xs:simpleType></xs:element>',
    )
    assert strict != original.read_text("utf-8")
    (tmp_path / "strict.xsd").write_text(strict, "utf-8")
    entry["options"]["reply_xsd"] = str(tmp_path / "strict.xsd")
    settings = ConnectorSettings("population", "soap", entry["url"], FAST, entry["options"])
    connector = builder("soap")(settings, ConnectorDeps(CollectorRegistry(), tmp_path))
    provider = connector.provider()
    assert provider is not None
    citizen = REGISTRY.citizens[0]
    try:
        with pytest.raises(InvalidProviderReply) as caught:
            await provider.fetch(
                DataRequest("citizen.identity", {"personal_id": citizen.personal_id}, CONTEXT)
            )
    finally:
        await connector.aclose()
    assert "NgayThangNamSinh" in caught.value.detail
    assert citizen.date_of_birth not in caught.value.detail and citizen.personal_id not in caught.value.detail


# a broken document, text that is no XML, an XML document that is no XSD
@pytest.mark.parametrize("xsd", ["<xs:schema", "not xml at all", "<schema/>"])
async def test_a_reply_xsd_that_cannot_be_used_stops_the_start(tmp_path: Path, xsd: str) -> None:
    entry = registry_connector("population", "http://127.0.0.1:9")
    (tmp_path / "bad.xsd").write_text(xsd, "utf-8")
    entry["options"]["reply_xsd"] = str(tmp_path / "bad.xsd")
    settings = ConnectorSettings("population", "soap", entry["url"], FAST, entry["options"])
    connector = builder("soap")(settings, ConnectorDeps(CollectorRegistry(), tmp_path))
    try:
        with pytest.raises(InvalidProviderContract, match="the reply XSD"):
            await connector.start()
    finally:
        await connector.aclose()
