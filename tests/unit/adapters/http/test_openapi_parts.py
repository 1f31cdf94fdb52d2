"""The parts of the OpenAPI document written by hand: they refuse what the bus refuses and
accept what it accepts (tests/integration/http/test_openapi_conformance.py checks the whole API)."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator

from adapters.http.evidence_doc import KEY_SCHEMAS, query_schema
from adapters.http.problems import MethodNotAllowed
from adapters.http.publish_doc import STRUCTURED_EVENT
from adapters.http.responses import PROBLEM_REF, errors
from router.errors import MalformedEvent, MalformedJson, NotFound, Unauthenticated, Unavailable
from router.evidence.catalogue import Catalogue, Dataset, PersonalData
from router.evidence.service import KEY_FORMATS
from schemas.formats import format_checker

IDENTITY = Dataset("citizen.identity", "population", ("personal_id",), PersonalData.PERSONAL, {"p": None})
BUSINESS = Dataset("business.registration", "business", ("tax_code",), PersonalData.NONE, {"p": None})
VEHICLE = Dataset("vehicle.registration", "vehicle", ("plate",), PersonalData.PERSONAL, {"p": None})
QUERY = {"procedure": "1.002861", "purpose": "dossier_processing"}


def valid(schema: dict[str, Any], value: Any) -> bool:
    return Draft202012Validator(schema, format_checker=format_checker()).is_valid(value)


def test_every_identifier_the_bus_checks_has_its_schema() -> None:
    assert KEY_SCHEMAS.keys() == KEY_FORMATS.keys()


@pytest.mark.parametrize(
    ("query", "fits"),
    [
        ({"dataset": "citizen.identity", "subject": {"personal_id": "001099012345"}, "dossier": "X"}, True),
        ({"dataset": "citizen.identity", "subject": {}, "dossier": "X"}, False),  # no key at all
        ({"dataset": "citizen.identity", "subject": {"personal_id": "1"}, "dossier": "X"}, False),
        ({"dataset": "citizen.identity", "subject": {"tax_code": "0100109106"}, "dossier": "X"}, False),
        ({"dataset": "citizen.identity", "subject": {"personal_id": "001099012345"}}, False),  # no dossier
        ({"dataset": "citizen.identity", "subject": {"personal_id": "001099012345"}, "dossier": " "}, False),
        ({"dataset": "business.registration", "subject": {"tax_code": "0100109106"}}, True),
        ({"dataset": "business.registration", "subject": {"tax_code": "0100109107"}}, False),  # check digit
        # a household business's tax code is its owner's personal ID: the key fits (the registry
        # of enterprises then refuses it), a 12-digit non-ID does not
        ({"dataset": "business.registration", "subject": {"tax_code": "038185000123"}}, True),
        ({"dataset": "business.registration", "subject": {"tax_code": "003185000123"}}, False),
        ({"dataset": "vehicle.registration", "subject": {"plate": "73A-123.45"}, "dossier": "X"}, True),
        ({"dataset": "vehicle.registration", "subject": {"plate": ""}, "dossier": "X"}, False),
        ({"dataset": "land.parcel", "subject": {"parcel": "1"}}, False),  # not in the catalogue
    ],
)
def test_an_evidence_query_fits_the_document_as_it_fits_the_catalogue(
    query: dict[str, Any], fits: bool
) -> None:
    schema = query_schema(Catalogue.of([IDENTITY, BUSINESS, VEHICLE], []))
    assert valid(schema, {**QUERY, **query}) is fits


MINIMAL = {"specversion": "1.0", "source": "000.00.00.H49/motcua", "type": "dossier.submitted"}


@pytest.mark.parametrize(
    ("event", "fits"),
    [
        (MINIMAL, True),
        ({}, False),  # an empty object is no event
        ({**MINIMAL, "specversion": "0.3"}, False),
        ({**MINIMAL, "id": ""}, False),
        ({**MINIMAL, "id": None, "subject": ""}, True),
        ({**MINIMAL, "time": "yesterday"}, False),
        ({**MINIMAL, "datacontenttype": "application/xml"}, False),
        ({**MINIMAL, "datacontenttype": "application/vnd.x+json; charset=utf-8"}, True),
        ({**MINIMAL, "data_base64": "AA=="}, False),
        ({**MINIMAL, "traceparent": "00-1-2-01", "priority": 2**31 - 1, "urgent": True}, True),
        ({**MINIMAL, "priority": 2**31}, False),
        ({**MINIMAL, "Priority": 1}, False),
        ({**MINIMAL, "note": None}, False),
    ],
)
def test_a_cloudevent_fits_the_document_as_it_fits_the_envelope_checks(
    event: dict[str, Any], fits: bool
) -> None:
    assert valid(STRUCTURED_EVENT, event) is fits


def test_errors_are_grouped_by_status_with_their_codes_and_headers() -> None:
    responses = errors(
        Unauthenticated, MalformedEvent, MalformedJson, NotFound, Unavailable, MethodNotAllowed
    )
    assert sorted(responses) == [400, 401, 404, 405, 503]
    schema = responses[400]["content"]["application/problem+json"]["schema"]
    assert schema["allOf"][0] == {"$ref": PROBLEM_REF}
    assert schema["allOf"][1]["properties"]["code"] == {"enum": ["malformed_event", "malformed_json"]}
    assert schema["allOf"][1]["properties"]["status"] == {"const": 400}
    assert responses[401]["headers"]["WWW-Authenticate"]["required"] is True
    assert responses[503]["headers"]["Retry-After"]["required"] is True
