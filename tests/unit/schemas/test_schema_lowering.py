"""Identifier formats compiled as native patterns: the schema means the same after lowering."""

from __future__ import annotations

from typing import Any

import jsonschema_rs

from router.errors import FieldError
from router.identifiers import PATTERNS
from schemas.validation import CompiledSchema, lower


def test_a_format_becomes_its_pattern() -> None:
    assert lower({"type": "string", "format": "vn-personal-id"}) == {
        "type": "string",
        "pattern": PATTERNS["vn-personal-id"],
    }


def test_a_pattern_already_there_is_kept_beside_it() -> None:
    lowered = lower({"format": "vn-agency-code", "pattern": "^000", "allOf": [{"minLength": 1}]})
    assert lowered == {
        "pattern": "^000",
        "allOf": [{"minLength": 1}, {"pattern": PATTERNS["vn-agency-code"]}],
    }


def test_other_formats_and_instance_values_are_untouched() -> None:
    schema = {
        "properties": {
            "format": {"type": "string", "format": "vn-tax-code"},  # a property named format
            "when": {"format": "date-time"},
        },
        "enum": [{"format": "vn-personal-id"}],  # data, not a schema
        "default": {"format": "vn-personal-id"},
    }
    assert lower(schema) == schema


def test_nested_formats_are_lowered() -> None:
    schema: dict[str, Any] = {
        "$defs": {"id": {"format": "vn-old-id"}},
        "items": {"anyOf": [{"format": "vn-old-id"}]},
    }
    lowered = lower(schema)
    assert lowered["$defs"]["id"] == {"pattern": PATTERNS["vn-old-id"]}
    assert lowered["items"]["anyOf"][0] == {"pattern": PATTERNS["vn-old-id"]}
    assert schema["$defs"]["id"] == {"format": "vn-old-id"}  # the original is not changed


def test_errors_of_a_lowered_format_name_the_format() -> None:
    schema = {"type": "object", "properties": {"id": {"type": "string", "format": "vn-personal-id"}}}
    compiled = CompiledSchema(lower(schema), jsonschema_rs.Registry([]))
    assert not compiled.is_valid({"id": "12"})
    assert compiled.errors({"id": "12"}, "/data") == (
        FieldError(
            "/data/id",
            '"12" is not a 12-digit personal ID number: the code of the province (one of the 63 '
            "before the 2025 mergers) or country of birth registration, century/sex digit, "
            "year of birth, 6 digits",
        ),
    )
