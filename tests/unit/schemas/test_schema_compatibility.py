"""Compatibility rules between two versions, in each mode.

BACKWARD: the new version accepts all the old one accepted. FORWARD: the old one accepts all the
new one accepts. FULL: both. What the checker cannot prove is a problem, never a silent pass.
"""

from __future__ import annotations

from typing import Any

import pytest

from schemas.compatibility import Mode, check
from schemas.registry import SchemaRegistry


def obj(properties: dict[str, Any], required: list[str] | None = None, closed: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    return schema


STRING = {"type": "string"}


def modes(old: Any, new: Any) -> dict[str, list[str]]:
    return {mode.value: check(old, new, mode) for mode in (Mode.BACKWARD, Mode.FORWARD, Mode.FULL)}


def ok_in(old: Any, new: Any) -> set[str]:
    return {mode for mode, problems in modes(old, new).items() if not problems}


def test_identical_schemas_are_compatible_in_every_mode() -> None:
    schema = obj({"a": STRING, "b": {"type": "integer", "minimum": 0}}, ["a"])
    assert ok_in(schema, schema) == {"BACKWARD", "FORWARD", "FULL"}


def test_none_checks_nothing() -> None:
    assert check(obj({"a": STRING}), {"type": "integer"}, "NONE") == []


def test_an_optional_property_added_to_a_closed_schema() -> None:
    old = obj({"a": STRING})
    new = obj({"a": STRING, "b": STRING})
    assert ok_in(old, new) == {"BACKWARD"}
    assert check(old, new, "FORWARD") == ["FORWARD: /b: old does not accept this property, which new accepts"]


def test_an_optional_property_added_to_an_open_schema() -> None:
    old = obj({"a": STRING}, closed=False)
    new = obj({"a": STRING, "b": STRING}, closed=False)
    # old data may have had any "b" at all: a new constraint on it is not BACKWARD
    assert ok_in(old, new) == {"FORWARD"}
    assert check(old, new, "BACKWARD") == [
        "BACKWARD: /b: new accepts only strings; old does not restrict the type"
    ]


def test_a_new_required_property() -> None:
    old = obj({"a": STRING, "b": STRING})
    new = obj({"a": STRING, "b": STRING}, ["b"])
    assert ok_in(old, new) == {"FORWARD"}
    assert check(old, new, "BACKWARD") == ["BACKWARD: /: new requires ['b'], which old does not require"]


def test_a_property_removed_from_a_closed_schema() -> None:
    old = obj({"a": STRING, "b": STRING})
    new = obj({"a": STRING})
    assert ok_in(old, new) == {"FORWARD"}
    assert check(old, new, "BACKWARD") == [
        "BACKWARD: /b: new does not accept this property, which old accepts"
    ]


def test_a_schema_that_closes() -> None:
    old = obj({"a": STRING}, closed=False)
    new = obj({"a": STRING})
    assert ok_in(old, new) == {"FORWARD"}
    assert "new accepts no properties but ['a']; old accepts others" in check(old, new, "BACKWARD")[0]


def test_enums() -> None:
    narrow = {"enum": [1, 2]}
    wide = {"enum": [1, 2, 3]}
    assert ok_in(narrow, wide) == {"BACKWARD"}
    assert ok_in(wide, narrow) == {"FORWARD"}
    assert check(wide, narrow, "BACKWARD") == ["BACKWARD: /: new does not accept [3], which old accepts"]
    assert ok_in({"const": 2}, narrow) == {"BACKWARD"}
    assert ok_in({"enum": [True]}, {"enum": [1]}) == set()  # true is not 1 in JSON Schema
    assert ok_in({"enum": [1.0]}, {"enum": [1]}) == {"BACKWARD", "FORWARD", "FULL"}  # 1.0 is 1


def test_types() -> None:
    assert ok_in({"type": "integer"}, {"type": "number"}) == {"BACKWARD"}
    assert ok_in({"type": "string"}, {"type": ["string", "null"]}) == {"BACKWARD"}
    assert check({"type": "number"}, {"type": "integer"}, "BACKWARD") == [
        "BACKWARD: /: new does not accept non-integer numbers, which old accepts"
    ]
    assert ok_in({"enum": ["a", "b"]}, STRING) == {"BACKWARD"}


@pytest.mark.parametrize(
    ("tight", "loose"),
    [
        ({"type": "string", "maxLength": 10}, {"type": "string", "maxLength": 20}),
        ({"type": "string", "minLength": 5}, {"type": "string", "minLength": 1}),
        ({"type": "array", "maxItems": 1}, {"type": "array"}),
        ({"type": "integer", "minimum": 1}, {"type": "integer", "minimum": 0}),
        ({"type": "integer", "exclusiveMinimum": 0}, {"type": "integer", "minimum": 0}),
        ({"type": "number", "maximum": 9}, {"type": "number", "exclusiveMaximum": 10}),
        ({"type": "number", "multipleOf": 10}, {"type": "number", "multipleOf": 5}),
        ({"type": "number", "multipleOf": 0.2}, {"type": "number", "multipleOf": 0.1}),
        ({"type": "array", "uniqueItems": True}, {"type": "array"}),
        ({"type": "object", "maxProperties": 2}, {"type": "object", "maxProperties": 3}),
    ],
)
def test_narrowing_a_constraint_is_only_forward(tight: dict[str, Any], loose: dict[str, Any]) -> None:
    assert ok_in(tight, loose) == {"BACKWARD"}
    assert ok_in(loose, tight) == {"FORWARD"}


def test_bounds_that_mean_the_same() -> None:
    assert ok_in({"minimum": 0}, {"minimum": 0}) == {"BACKWARD", "FORWARD", "FULL"}
    # minimum 0 allows 0, exclusiveMinimum 0 does not
    assert check({"type": "number", "minimum": 0}, {"type": "number", "exclusiveMinimum": 0}, "BACKWARD") == [
        "BACKWARD: /: new requires exclusiveMinimum 0; old allows minimum 0"
    ]


def test_constraints_of_other_types_do_not_matter() -> None:
    assert ok_in({"type": "integer"}, {"type": ["integer", "string"], "maxLength": 3}) == {"BACKWARD"}


def test_patterns_and_formats_must_stay_the_same() -> None:
    old = {"type": "string", "pattern": "^[0-9]+$"}
    new = {"type": "string", "pattern": "^[0-9]*$"}  # wider, but the checker does not compare regexes
    assert check(old, new, "BACKWARD") == [
        "BACKWARD: /: new requires pattern '^[0-9]*$'; old does not have the same pattern"
    ]
    assert ok_in(STRING, {"type": "string", "format": "vn-tax-code"}) == {"FORWARD"}


def test_a_format_may_widen_to_one_that_accepts_all_its_values() -> None:
    # identifiers.WIDER_FORMATS: a tax code field that also takes the 12-digit personal ID of
    # individuals and household businesses (1 July 2025) accepts every enterprise code
    enterprise = {"type": "string", "format": "vn-tax-code"}
    taxpayer = {"type": "string", "format": "vn-tax-code-or-personal-id"}
    assert ok_in(enterprise, taxpayer) == {"BACKWARD"}
    assert check(taxpayer, enterprise, "BACKWARD") == [
        "BACKWARD: /: new requires format 'vn-tax-code'; old does not have it or a narrower one"
    ]
    assert ok_in({"type": "string", "format": "vn-personal-id"}, taxpayer) == {"BACKWARD"}
    assert ok_in({"type": "string", "format": "date"}, {"type": "string", "format": "vn-date-of-birth"}) == {
        "BACKWARD"
    }
    assert ok_in({"type": "string", "format": "vn-old-id"}, taxpayer) == set()


def test_finite_values_are_checked_one_by_one() -> None:
    old = {"enum": ["0100109106", "0100233488"]}
    assert ok_in(old, {"type": "string", "format": "vn-tax-code", "maxLength": 10}) == {"BACKWARD"}
    assert check(old, {"type": "string", "pattern": "^01002"}, "BACKWARD") == [
        "BACKWARD: /: new (pattern) does not accept ['0100109106'], which old accepts"
    ]


def test_items() -> None:
    old = {"type": "array", "items": STRING}
    new = {"type": "array", "items": {"type": "integer"}}
    assert check(old, new, "BACKWARD") == ["BACKWARD: /*: new does not accept strings, which old accepts"]
    tuple_old = {"type": "array", "prefixItems": [STRING], "items": False}
    tuple_new = {"type": "array", "prefixItems": [STRING, STRING], "items": False}
    assert ok_in(tuple_old, tuple_new) == {"BACKWARD"}
    assert check(tuple_new, tuple_old, "BACKWARD") == [
        "BACKWARD: /1: new accepts nothing here, old accepts some values"
    ]


def test_nested_objects_name_the_place() -> None:
    old = obj({"applicant": obj({"name": STRING, "id": STRING})})
    new = obj({"applicant": obj({"name": STRING, "id": {"type": "string", "maxLength": 12}})})
    assert check(old, new, "BACKWARD") == [
        "BACKWARD: /applicant/id: new requires maxLength 12; old has no such bound"
    ]
    assert check(old, new, "FORWARD") == []


def test_refs_are_followed() -> None:
    old = {
        "$defs": {"code": {"type": "string", "maxLength": 10}},
        "type": "object",
        "properties": {"code": {"$ref": "#/$defs/code"}},
    }
    new = {"type": "object", "properties": {"code": {"type": "string", "maxLength": 20}}}
    assert ok_in(old, new) == {"BACKWARD"}
    assert check(new, old, "BACKWARD") == ["BACKWARD: /code: new requires maxLength 10; old allows 20"]


def test_all_of_is_a_conjunction() -> None:
    old = {"allOf": [{"type": "string"}, {"maxLength": 5}]}
    assert ok_in(old, {"type": "string", "maxLength": 8}) == {"BACKWARD"}
    assert ok_in({"type": "string", "maxLength": 3}, old) == {"BACKWARD"}


def test_any_of() -> None:
    either = {"anyOf": [STRING, {"type": "integer"}]}
    assert ok_in(STRING, either) == {"BACKWARD"}
    assert ok_in({"anyOf": [{"type": "integer"}, STRING]}, either) == {"BACKWARD", "FORWARD", "FULL"}
    problems = check({"type": "boolean"}, either, "BACKWARD")
    assert problems == [
        "BACKWARD: /: cannot prove that every value old accepts here matches one of the anyOf alternatives of new"
    ]


def test_recursive_schemas_terminate() -> None:
    def tree(**extra: Any) -> dict[str, Any]:
        children = {"type": "array", "items": {"$ref": "#"}}
        return obj({"children": children, **extra})

    assert check(tree(), tree(), "FULL") == []  # equal, not the same objects: followed through "#"
    assert check(tree(), tree(name=STRING), "FULL") == [
        "FORWARD: /name: old does not accept this property, which new accepts"
    ]


@pytest.mark.parametrize(
    "keyword",
    [
        {"oneOf": [STRING, {"type": "integer"}]},
        {"not": {"type": "null"}},
        {"if": {"type": "string"}, "then": {"minLength": 1}},
        {"patternProperties": {"^x-": STRING}},
        {"unevaluatedProperties": False},
        {"propertyNames": {"maxLength": 3}},
    ],
)
def test_what_cannot_be_proved_is_reported(keyword: dict[str, Any]) -> None:
    old = {"type": "object"}
    new = {"type": "object", **keyword}
    problems = check(old, new, "BACKWARD")
    assert len(problems) == 1 and "cannot prove" in problems[0]
    assert check(new, new, "FULL") == []  # the same value on both sides is proved


def test_unknown_keywords_of_the_reader_are_reported() -> None:
    assert check({}, {"x-doc": "fine"}, "BACKWARD") == []
    assert check({}, {"mystery": 1}, "BACKWARD") == [
        "BACKWARD: /: cannot prove: unknown keyword 'mystery' in new"
    ]


def test_an_unresolvable_ref_cannot_be_proved() -> None:
    problems = check({"type": "string"}, {"$ref": "urn:elsewhere:1"}, "BACKWARD")
    assert len(problems) == 1 and "cannot prove: cannot resolve" in problems[0]


def test_false_schemas() -> None:
    assert check(False, STRING, "BACKWARD") == []
    assert check(STRING, False, "BACKWARD") == [
        "BACKWARD: /: new accepts nothing here, old accepts some values"
    ]


def test_the_shipped_status_versions() -> None:
    registry = SchemaRegistry.load()
    v1 = registry.schema("dossier.status.changed", 1, bundled=False)
    v2 = registry.schema("dossier.status.changed", 2, bundled=False)
    names = {"old_name": "v1", "new_name": "v2"}
    assert check(v1, v2, "BACKWARD", registry.documents, **names) == []
    assert check(v1, v2, "FORWARD", registry.documents, **names) == [
        "FORWARD: /refusedAt: v1 does not accept this property, which v2 accepts",
        "FORWARD: /reason: v1 does not accept this property, which v2 accepts",
    ]


def test_mode_names() -> None:
    with pytest.raises(ValueError, match="SIDEWAYS"):
        check({}, {}, "SIDEWAYS")
