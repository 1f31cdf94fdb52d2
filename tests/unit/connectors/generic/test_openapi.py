"""An OpenAPI document read for a configured REST dataset: operations by operationId, the reply
schema checked against the document's types (3.1, and 3.0's dialect), and every hostile document
an ``invalid_provider_contract`` error."""

from __future__ import annotations

import orjson
import pytest

from connectors.generic.openapi import MAX_DOCUMENT_BYTES, parse
from router.providers import InvalidProviderContract
from simulators.rest_openapi_insurance import DOCUMENT

V30 = b"""
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /things/{id}:
    get:
      operationId: getThing
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: lang, in: query, schema: {type: string}}
      responses:
        200:
          description: ok
          content:
            application/json:
              schema:
                type: object
                required: [id]
                properties:
                  id: {type: string}
                  note: {type: string, nullable: true}
                  size: {type: number, minimum: 0, exclusiveMinimum: true}
"""


def test_the_simulators_31_document_is_indexed_by_operation_id() -> None:
    document = parse(orjson.dumps(DOCUMENT))
    record = document.operation("getInsured")
    assert (record.method, record.path) == ("GET", "/api/v1/insured/{personalId}")
    assert record.parameters["personalId"].where == "path" and record.parameters["personalId"].required
    assert record.parameters["X-Ma-Ho-So"].where == "header"
    schema = document.reply_schema(record)
    assert schema is not None
    assert not schema.is_valid({"soSoBHXH": "1"})
    with pytest.raises(
        InvalidProviderContract, match="no operationId 'getNobody'; it has getInsured, listPeriods"
    ):
        document.operation("getNobody")


def test_a_30_document_in_yaml_reads_nullable_and_exclusive_bounds() -> None:
    document = parse(V30)
    schema = document.reply_schema(document.operation("getThing"))
    assert schema is not None
    assert schema.is_valid({"id": "a", "note": None, "size": 1})
    assert not schema.is_valid({"id": "a", "size": 0})


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (V30.replace(b"type: object\n", b"$ref: 'http://203.0.113.9/s.json'\n", 1), "refers outside itself"),
        (V30.replace(b"type: object\n", b"$ref: 'other.yaml#/s'\n", 1), "refers outside itself"),
        (b"openapi: 3.1.0\ninfo: &a {title: t}\nx: *a\n", "anchors"),
        (b"openapi: 2.0\n", "not an OpenAPI 3.0 or 3.1 document"),
        (b"swagger: '2.0'\n", "not an OpenAPI 3.0 or 3.1 document"),
        (b"[1, 2]", "not a mapping"),
        (b"openapi: 3.1.0\n" + b"#" * MAX_DOCUMENT_BYTES, "larger than"),
        (b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x/>", "not a mapping"),
        (b"openapi: 3.1.0\npaths: {a: [unclosed\n", "neither JSON nor YAML"),
    ],
)
def test_a_hostile_document_is_refused(content: bytes, said: str) -> None:
    with pytest.raises(InvalidProviderContract) as raised:
        parse(content)
    assert raised.value.code == "invalid_provider_contract" and said in raised.value.detail


def test_a_circular_reference_is_refused() -> None:
    with pytest.raises(InvalidProviderContract, match="too long or circular"):
        parse(
            b'{"openapi": "3.1.0", "paths": {"/a": {"$ref": "#/paths/~1b"}, "/b": {"$ref": "#/paths/~1a"}}}'
        )
