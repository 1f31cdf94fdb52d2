"""Where the subschemas of a JSON Schema 2020-12 document are.

Schemas hold instance values too (``enum``, ``const``, ``default``, ``examples``), which must never
be mistaken for schemas; this module is the one place that knows which keywords hold what.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

# The keywords of the 2020-12 vocabularies (core, applicator, unevaluated, validation, meta-data,
# format-annotation, content).
KEYWORDS = frozenset(
    {
        "$schema",
        "$id",
        "$ref",
        "$anchor",
        "$dynamicRef",
        "$dynamicAnchor",
        "$vocabulary",
        "$comment",
        "$defs",
        "prefixItems",
        "items",
        "contains",
        "additionalProperties",
        "properties",
        "patternProperties",
        "dependentSchemas",
        "propertyNames",
        "if",
        "then",
        "else",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "unevaluatedItems",
        "unevaluatedProperties",
        "type",
        "const",
        "enum",
        "multipleOf",
        "maximum",
        "exclusiveMaximum",
        "minimum",
        "exclusiveMinimum",
        "maxLength",
        "minLength",
        "pattern",
        "maxItems",
        "minItems",
        "uniqueItems",
        "maxContains",
        "minContains",
        "maxProperties",
        "minProperties",
        "required",
        "dependentRequired",
        "title",
        "description",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "examples",
        "format",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
    }
)
# Keywords of older drafts that 2020-12 silently ignores: named so the error can say what to use.
RENAMED = {
    "definitions": "$defs",
    "dependencies": "dependentRequired or dependentSchemas",
    "additionalItems": "items (with prefixItems)",
    "$recursiveRef": "$dynamicRef",
    "$recursiveAnchor": "$dynamicAnchor",
}

_ONE = (
    *("additionalProperties", "propertyNames", "contains", "not", "if", "then", "else", "items"),
    *("unevaluatedItems", "unevaluatedProperties", "contentSchema"),
)
_MANY = ("allOf", "anyOf", "oneOf", "prefixItems")
_NAMED = ("properties", "patternProperties", "$defs", "dependentSchemas")

Path = tuple[str | int, ...]


def children(schema: Any) -> Iterator[tuple[Path, Any]]:
    """The direct subschemas of ``schema``, each with its path relative to ``schema``."""
    if not isinstance(schema, dict):
        return
    for keyword in _ONE:
        if keyword in schema:
            yield (keyword,), schema[keyword]
    for keyword in _MANY:
        items = schema.get(keyword)
        if isinstance(items, list):
            for index, item in enumerate(items):
                yield (keyword, index), item
    for keyword in _NAMED:
        named = schema.get(keyword)
        if isinstance(named, dict):
            for name, item in named.items():
                yield (keyword, name), item


def walk(schema: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every schema in ``schema`` (itself first), depth first, with its path."""
    yield path, schema
    for sub_path, child in children(schema):
        yield from walk(child, path + sub_path)


def map_schemas(schema: Any, change: Any) -> Any:
    """A copy of ``schema`` in which every subschema ``s`` (bottom up) is replaced by ``change(s)``."""
    if not isinstance(schema, dict):
        return change(schema)
    out = dict(schema)
    for keyword in _ONE:
        if keyword in out:
            out[keyword] = map_schemas(out[keyword], change)
    for keyword in _MANY:
        if isinstance(out.get(keyword), list):
            out[keyword] = [map_schemas(item, change) for item in out[keyword]]
    for keyword in _NAMED:
        if isinstance(out.get(keyword), dict):
            out[keyword] = {name: map_schemas(item, change) for name, item in out[keyword].items()}
    return change(out)


def json_path(path: Path) -> str:
    """``("properties", "a.b", "enum", 0)`` → ``$.properties['a.b'].enum[0]``, for error messages
    (the notation of python-jsonschema's ``json_path``)."""
    out = "$"
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}"
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out += f"['{escaped}']"
    return out
