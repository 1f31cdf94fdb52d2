"""An OpenAPI document read for a configured REST dataset: operations by operationId, the reply
schema checked against the document's types (3.1, and 3.0's dialect), and every hostile document
an ``invalid_provider_contract`` error."""

from __future__ import annotations

import orjson
import pytest

from connectors.generic.openapi import MAX_DEPTH, MAX_DOCUMENT_BYTES, MAX_YAML_BYTES, parse
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
        (b"openapi: 3.1.0\nx: '" + b"a" * MAX_YAML_BYTES + b"'\n", "YAML larger than"),
        # nesting that recursive parsers and checks would overflow on: refused, never a RecursionError
        (b"[" * 200_000, "nests deeper than"),
        (b"x: " + b"[" * 200_000, "neither JSON nor YAML"),
        (b"openapi: 3.1.0\nx: " + b"[" * 500 + b"]" * 500 + b"\n", "nests deeper than"),
        (b"openapi: 3.1.0\npaths:\n" + b"".join(b" " * i + b"a:\n" for i in range(1, 500)), "nests deeper"),
        (b'{"openapi": "3.1.0", "x": ' + b"[" * 2000 + b"]" * 2000 + b"}", "nests deeper than"),
        (b'{"openapi": "3.1.0", "x": ' + b"[" * 900 + b"]" * 900 + b"}", "nests deeper than"),
        (b'{"openapi": "3.1.0", "x": ' + b"[" * (MAX_DEPTH) + b"]" * (MAX_DEPTH) + b"}", "nests deeper than"),
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


def test_a_document_nested_up_to_the_limit_is_read() -> None:
    nested = b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1)
    assert parse(b'{"openapi": "3.1.0", "x": ' + nested + b"}").version == "3.1.0"
    assert parse(b"openapi: 3.1.0\nx: " + nested + b"\n").version == "3.1.0"


def test_yaml_scalars_are_read_as_yaml_1_2_does() -> None:
    """``yes``, ``no``, ``on`` and dates are text (YAML 1.1 would make booleans and dates of them,
    and an ``enum`` of them would match no reply); true/false, numbers and null keep their types."""
    document = parse(
        b"""openapi: 3.1.0
info: {title: t, version: 1.0}
paths:
  /x:
    get:
      operationId: getX
      responses:
        200:
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties:
                  kind: {enum: [yes, no, on, off, y, 2024-01-01, 010, 1_000, 0x1F, 1e3, true, ~]}
"""
    )
    schema = document.schema_at("/paths/~1x/get/responses/200/content/application~1json/schema")
    assert schema["properties"]["kind"]["enum"] == [
        "yes", "no", "on", "off", "y", "2024-01-01", "010", "1_000", 31, 1000.0, True, None,
    ]  # fmt: skip
    compiled = document.reply_schema(document.operation("getX"))
    assert (
        compiled is not None
        and compiled.is_valid({"kind": "yes"})
        and compiled.is_valid({"kind": "2024-01-01"})
    )
