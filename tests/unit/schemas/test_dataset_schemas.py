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
        assert schemas.latest(name) == 1


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
    assert schemas.personal_paths("transport.licence") == ()
    assert schemas.personal_paths("citizen.wealth") == ()  # no schema
