"""The dataset schemas load, compile with the identifier formats, and a broken one is refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from router.errors import ConfigError, NotFound
from schemas.dataset_schemas import DATASETS, dataset_id, load, shipped

DATASET_NAMES = {
    "citizen.identity",
    "citizen.residence",
    "business.registration",
    "vehicle.registration",
    "transport.licence",
    "result.document",
}


def test_the_shipped_datasets() -> None:
    schemas = shipped()
    assert set(schemas.versions) == DATASET_NAMES
    for name in DATASET_NAMES:
        assert schemas.documents[dataset_id(name, 1)]["$id"] == f"urn:lienthong:dataset:{name}:1"
    # version 2: the law in force since 1 July 2025 (docs/identifiers.md)
    assert {name: schemas.latest(name) for name in DATASET_NAMES} == {
        "citizen.identity": 2,
        "citizen.residence": 2,
        "business.registration": 2,
        "vehicle.registration": 1,
        "transport.licence": 2,
        "result.document": 2,
    }


def test_an_unknown_dataset_is_not_found() -> None:
    with pytest.raises(NotFound):
        shipped().validate("citizen.wealth", {})


def test_a_broken_schema_is_refused_with_its_file_and_path(tmp_path: Path) -> None:
    root = tmp_path / "datasets"
    shutil.copytree(DATASETS, root)
    file = root / "citizen.identity" / "1.json"
    schema = json.loads(file.read_text(encoding="utf-8"))
    schema["properties"]["sex"]["format"] = "vn-gender"
    schema["requried"] = []
    file.write_text(json.dumps(schema), encoding="utf-8")
    (root / "transport.licence" / "2.json").write_text(
        json.dumps({**json.loads((root / "transport.licence" / "1.json").read_text()), "$id": "x"}),
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load(root)
    message = str(caught.value)
    assert "vn-gender" in message and "requried" in message
    assert "transport.licence/2.json" in message and "urn:lienthong:dataset:transport.licence:2" in message


def test_errors_name_the_place_and_rule_but_never_the_value() -> None:
    # A provider's record may be about a person, and the errors reach a requester whose purpose
    # may not cover the field in question: no message repeats a value.
    record = {
        "personalId": "001090012345",
        "familyName": "SECRET-FAMILY",
        "givenName": "SECRET-GIVEN",
        "sex": "SECRET-SEX",
        "dateOfBirth": "SECRET-DOB",
        "nationality": "X" * 300,
    }
    errors = shipped().validate("citizen.identity", record)
    pointers = {e.pointer for e in errors}
    assert {"/sex", "/dateOfBirth"} <= pointers
    for error in errors:
        assert "SECRET" not in error.message and "XXX" not in error.message, error
    assert any("'enum' rule" in e.message for e in errors if e.pointer == "/sex")


def test_where_each_record_holds_a_persons_identifier() -> None:
    schemas = shipped()
    assert schemas.personal_paths("citizen.identity") == ("/dateOfBirth", "/personalId")
    assert schemas.personal_paths("business.registration") == (
        "/legalRepresentative/dateOfBirth",
        "/legalRepresentative/personalId",
    )
    assert schemas.personal_paths("vehicle.registration") == ("/owner/id",)  # when the owner is a person
    # a household business's tax code is its owner's personal ID (since 1 July 2025)
    assert schemas.personal_paths("transport.licence") == ("/taxCode",)
    assert schemas.personal_paths("citizen.wealth") == ()  # no schema


def test_a_version_that_refuses_what_the_one_before_accepted_is_refused(tmp_path: Path) -> None:
    # replies are checked against the latest version: a provider built for the older one must
    # keep passing
    root = tmp_path / "datasets"
    shutil.copytree(DATASETS, root)
    file = root / "transport.licence" / "3.json"
    schema = json.loads((root / "transport.licence" / "2.json").read_text(encoding="utf-8"))
    schema["$id"] = "urn:lienthong:dataset:transport.licence:3"
    schema["properties"]["taxCode"] = {"$ref": "urn:lienthong:dataset:common:2#/$defs/personalId"}
    file.write_text(json.dumps(schema), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load(root)
    message = str(caught.value)
    assert "transport.licence/3.json" in message and "not BACKWARD-compatible with v2" in message
    assert "/taxCode" in message


IDENTITY = {
    "personalId": "038185000123",
    "fullName": "Lê Văn An",
    "familyName": "Lê",
    "middleName": "Văn",
    "givenName": "An",
    "sex": "male",
}
OLD_ADDRESS = {
    "street": "12 Lê Lợi",
    "ward": "Phường 3",
    "district": "Đồng Hới",
    "province": "Quảng Bình",
    "text": "12 Lê Lợi, Phường 3, Đồng Hới, Quảng Bình",
}
NEW_ADDRESS = {
    "street": "12 Lê Lợi",
    "ward": "Phường Đồng Hới",
    "province": "Quảng Trị",
    "text": "12 Lê Lợi, Phường Đồng Hới, Quảng Trị",
}


@pytest.mark.parametrize("born", ["1985-02-11", "1985"])
def test_a_date_of_birth_may_be_the_year_alone(born: str) -> None:
    schemas = shipped()
    assert schemas.validate("citizen.identity", {**IDENTITY, "dateOfBirth": born}) == ()
    if len(born) == 4:  # version 1 still means a full date
        assert schemas.validate("citizen.identity", {**IDENTITY, "dateOfBirth": born}, version=1) != ()


@pytest.mark.parametrize(
    "born",
    [
        "1985-00-00",  # an invented day
        "1985-02",
        "85",
        "1985-02-30",
        "١٩٨٥",
        "1985\n",
        "1985 ",
        "",
        "9" * 5000,
        1985,
        None,
    ],
)
def test_hostile_dates_of_birth_are_refused_without_quoting_them(born: object) -> None:
    errors = shipped().validate("citizen.identity", {**IDENTITY, "dateOfBirth": born})
    assert [e.pointer for e in errors] == ["/dateOfBirth"]
    assert str(born) not in errors[0].message or born == ""


def test_addresses_with_and_without_a_district() -> None:
    schemas = shipped()
    for permanent, current in (
        (OLD_ADDRESS, NEW_ADDRESS),
        (NEW_ADDRESS, NEW_ADDRESS),
        (OLD_ADDRESS, OLD_ADDRESS),
    ):
        record = {"personalId": "038185000123", "permanent": permanent, "current": current}
        assert schemas.validate("citizen.residence", record) == ()
    # version 1 required the district
    record = {"personalId": "038185000123", "permanent": NEW_ADDRESS, "current": NEW_ADDRESS}
    assert {e.pointer for e in schemas.validate("citizen.residence", record, version=1)} == {
        "/permanent/district",
        "/current/district",
    }


@pytest.mark.parametrize(
    "change",
    [
        {"ward": ""},
        {"province": ""},
        {"district": "x" * 201},
        {"district": 7},
        {"commune": "Xã A"},  # the ward holds communes, wards and special zones alike
        {"ward": "x" * 10_000},
    ],
)
def test_hostile_addresses_are_refused(change: dict[str, object]) -> None:
    record = {"personalId": "038185000123", "permanent": {**NEW_ADDRESS, **change}, "current": NEW_ADDRESS}
    errors = shipped().validate("citizen.residence", record)
    assert errors and all(e.pointer.startswith("/permanent") for e in errors)


def test_a_personal_id_is_a_tax_code_where_the_contract_says_so() -> None:
    schemas = shipped()
    licence = {
        "licenceNumber": "73-00001/GPKDVT",
        "taxCode": "038185000123",  # a household business
        "activities": ["4932"],
        "issuedOn": "2025-08-01",
        "expiresOn": "2032-08-01",
        "issuer": "Sở Xây dựng Quảng Trị",
    }
    assert schemas.validate("transport.licence", licence) == ()
    assert [e.pointer for e in schemas.validate("transport.licence", licence, version=1)] == ["/taxCode"]
    for enterprise in ("0100109106", "0100109106-001"):
        assert schemas.validate("transport.licence", {**licence, "taxCode": enterprise}) == ()
    for hostile in ("003185000123", "03818500012", "038185000123 ", "0381850001234", "", "٠٣٨١٨٥٠٠٠١٢٣"):
        errors = schemas.validate("transport.licence", {**licence, "taxCode": hostile})
        assert [e.pointer for e in errors] == ["/taxCode"], hostile
        assert hostile not in errors[0].message or hostile == ""


def test_an_enterprise_code_is_never_a_personal_id() -> None:
    registration = {
        "taxCode": "038185000123",
        "name": "Công ty TNHH An",
        "legalRepresentative": {"personalId": "038185000123", "fullName": "Lê Văn An", "dateOfBirth": "1985"},
        "headOffice": NEW_ADDRESS,
        "businessLines": [{"code": "4932", "name": "Vận tải hành khách", "main": True}],
        "status": "active",
        "registeredOn": "2025-08-01",
    }
    errors = shipped().validate("business.registration", registration)
    assert [e.pointer for e in errors] == ["/taxCode"]
    assert "never a 12-digit personal ID" in errors[0].message
    assert shipped().validate("business.registration", {**registration, "taxCode": "0100109106"}) == ()
