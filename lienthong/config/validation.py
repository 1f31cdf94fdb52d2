"""Checking a configuration against its JSON Schema (schemas/config/lienthong.schema.json), and
turning jsonschema's errors into problems a person can act on.

The advice after an error comes from the schema itself where it can: the ``x-fix`` annotation of the
subschema that failed, or the ``description`` of a missing property.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from functools import cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from lienthong.config.problems import JsonPath, Problem

SCHEMA_RESOURCE = "config/lienthong.schema.json"
_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}


def config_schema() -> dict[str, Any]:
    """The configuration's JSON Schema, as shipped in the ``schemas`` package."""
    loaded: dict[str, Any] = json.loads(files("schemas").joinpath(SCHEMA_RESOURCE).read_text("utf-8"))
    return loaded


@cache
def _validator() -> Draft202012Validator:
    schema = config_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _what(value: Any) -> str:
    """How a YAML reader would name a value, for messages."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"the string {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _known_properties(schema: Mapping[str, Any]) -> list[str]:
    """Property names a schema defines, its conditional branches included."""
    names = list(schema.get("properties", {}))
    for branch in schema.get("allOf", []):
        names += _known_properties(branch)
        names += _known_properties(branch.get("then", {}))
    return sorted(set(names))


def _unknown_keys(error: ValidationError, path: JsonPath) -> Iterator[Problem]:
    instance = error.instance if isinstance(error.instance, dict) else {}
    known = _known_properties(error.schema) if isinstance(error.schema, Mapping) else []
    unsupported = error.schema.get("x-unsupported", {}) if isinstance(error.schema, Mapping) else {}
    for key in instance:
        if key in known:
            continue
        if key in unsupported:
            yield Problem((*path, key), f"'{key}' is not supported", unsupported[key], at_key=True)
            continue
        close = difflib.get_close_matches(str(key), known, n=1)
        allowed = ", ".join(known) if known else "none"
        fix = (
            f"did you mean '{close[0]}'? Otherwise remove it"
            if close
            else "remove it or correct its spelling"
        )
        yield Problem(
            (*path, key), f"unknown property '{key}'", f"{fix} (allowed here: {allowed})", at_key=True
        )


def _fix(error: ValidationError, default: str) -> str:
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    fix = schema.get("x-fix")
    return fix if isinstance(fix, str) else default


def _problems(error: ValidationError) -> Iterator[Problem]:
    path: JsonPath = tuple(error.absolute_path)
    kind = error.validator
    # Both are whatever the document and the schema hold at that place.
    value: Any = error.instance
    expected_value: Any = error.validator_value
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    if kind in ("additionalProperties", "unevaluatedProperties"):
        yield from _unknown_keys(error, path)
    elif kind == "required":
        properties = schema.get("properties", {})
        for name in expected_value:
            if isinstance(value, dict) and name not in value:
                about = str(properties.get(name, {}).get("description", "")).rstrip(".")
                about = f" ({about[:1].lower()}{about[1:]})" if about else ""
                yield Problem((*path, name), f"'{name}' is missing", f"add '{name}'{about}")
    elif "propertyNames" in error.relative_schema_path:
        # The name of a key is wrong; jsonschema reports it at the object, with the name as instance.
        yield Problem(
            (*path, value),
            f"{_short(value)} is not allowed as a name here",
            _fix(error, "rename it"),
            at_key=True,
        )
    elif kind == "type":
        wanted = expected_value if isinstance(expected_value, list) else [expected_value]
        expected = " or ".join(_TYPE_NAMES.get(str(w), str(w)) for w in wanted)
        yield Problem(path, f"expected {expected}, found {_what(value)}", _fix(error, f"write {expected}"))
    elif kind in ("enum", "const"):
        allowed = expected_value if kind == "enum" else [expected_value]
        choices = ", ".join(json.dumps(a, ensure_ascii=False) for a in allowed)
        yield Problem(path, f"{_what(value)} is not allowed here", _fix(error, f"use one of: {choices}"))
    elif kind == "pattern":
        yield Problem(
            path, f"{_what(value)} does not have the expected form", _fix(error, "correct the value")
        )
    elif kind in ("minItems", "minLength") and not value:
        yield Problem(path, "must not be empty", _fix(error, "give at least one value"))
    elif kind in ("minProperties", "maxProperties"):
        count = len(value) if isinstance(value, dict) else 0
        bound = f"{'at least' if kind == 'minProperties' else 'at most'} {expected_value}"
        yield Problem(path, f"has {count} entries where {bound} are expected", _fix(error, f"write {bound}"))
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        limit = expected_value
        relation = {"minimum": "at least", "maximum": "at most", "exclusiveMinimum": "more than"}.get(
            kind, "less than"
        )
        yield Problem(path, f"{_what(value)} is out of range", f"use a value {relation} {limit}")
    elif kind == "uniqueItems":
        yield Problem(path, "the list repeats a value", "list each value once")
    elif kind in ("maxItems", "maxLength"):
        yield Problem(path, f"too long (at most {expected_value})", "shorten it")
    else:
        yield Problem(path, error.message, _fix(error, "correct the value"))


def schema_problems(data: Any) -> list[Problem]:
    """Every way in which ``data`` breaks the configuration schema."""
    errors = list(_validator().iter_errors(data))
    # A wrong transport kind makes its other keys "unevaluated" too; only the kind is the mistake.
    wrong_kind = {tuple(e.absolute_path)[:-1] for e in errors if tuple(e.absolute_path)[-1:] == ("kind",)}
    problems: list[Problem] = []
    for error in errors:
        if error.validator == "unevaluatedProperties" and tuple(error.absolute_path) in wrong_kind:
            continue
        problems.extend(_problems(error))
    return problems
