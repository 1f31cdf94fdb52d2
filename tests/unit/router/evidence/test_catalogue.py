"""Keying a procedure's needs from a dossier, and minimising records for a purpose."""

from __future__ import annotations

import pytest

from router.evidence.catalogue import MissingKey, Need, keys_for, resolve
from router.evidence.minimise import minimise

DOSSIER = {
    "applicant": {"type": "business", "taxCode": "0100109106"},
    "vehicles": [{"plate": "14B-123.45"}, {"plate": "14B-678.90"}, {"plate": "14B-123.45"}],
}


def test_a_pointer_with_a_star_asks_once_per_item_and_once_per_value() -> None:
    need = Need("vehicle.registration", {"plate": "/vehicles/*/plate"}, "Giấy đăng ký xe")
    assert keys_for(need, DOSSIER) == [{"plate": "14B-123.45"}, {"plate": "14B-678.90"}]


def test_literal_values_and_pointers_combine() -> None:
    need = Need("result.document", {"holder": "/applicant/taxCode", "procedure": "1.002861"}, "GP")
    assert keys_for(need, DOSSIER) == [{"holder": "0100109106", "procedure": "1.002861"}]


def test_a_missing_identifier_is_to_be_asked() -> None:
    need = Need("citizen.identity", {"personal_id": "/representative/personalId"}, "CCCD")
    with pytest.raises(MissingKey) as caught:
        keys_for(need, DOSSIER)
    assert caught.value.pointer == "/representative/personalId"
    with pytest.raises(MissingKey):
        keys_for(Need("vehicle.registration", {"plate": "/vehicles/*/plate"}, "x"), {"vehicles": []})


def test_resolve_indexes_and_escapes() -> None:
    assert resolve({"a/b": [1, 2]}, "/a~1b/1") == [2]
    assert resolve({"a": 1}, "/b") == []


RECORD = {
    "taxCode": "0100109106",
    "name": "Công ty",
    "legalRepresentative": {"personalId": "022089001234", "fullName": "An", "dateOfBirth": "1989-03-04"},
    "badges": [{"number": "1", "kind": "x"}, {"number": "2", "kind": "y"}],
}


def test_minimise_keeps_only_the_named_fields() -> None:
    assert minimise(RECORD, ["taxCode", "/legalRepresentative/fullName", "/badges/*/number"]) == {
        "taxCode": "0100109106",
        "legalRepresentative": {"fullName": "An"},
        "badges": [{"number": "1"}, {"number": "2"}],
    }
    assert minimise(RECORD, None) is RECORD
    assert minimise(RECORD, ["nothing"]) == {}
    # a whole field wins over a part of it, whatever the order
    assert (
        minimise(RECORD, ["legalRepresentative", "/legalRepresentative/fullName"])["legalRepresentative"]
        == (RECORD["legalRepresentative"])
    )
