"""Compatibility between two versions of an event type's schema.

The modes are Confluent Schema Registry's, read for JSON Schema:

- ``BACKWARD``: the new schema accepts everything the old one accepted, so consumers that moved to
  the new version still read events written for the old one (and publishers may upgrade later).
- ``FORWARD``: the old schema accepts everything the new one accepts, so consumers still on the
  old version read events written for the new one.
- ``FULL``: both. ``NONE``: no check.

Both reduce to one question: does the *reader* schema accept every instance the *writer* schema
accepts (writer ⊆ reader)? :func:`check` answers it by walking both schemas together and proving
each constraint of the reader from the constraints of the writer. The proof is conservative: what
it cannot prove is reported as a problem ("cannot prove ..."), never silently passed. It knows:

- ``$ref`` (followed through a ``referencing`` registry) and ``allOf`` (conjunctions);
- ``type`` (``integer`` is a ``number``), ``enum``, ``const``; bounds on strings, numbers, arrays
  and objects (``min*``/``max*``/``exclusive*``, ``multipleOf``); ``pattern`` (the writer must
  have the same one) and ``format`` (the same one, or one the reader's is wider than:
  :data:`router.identifiers.WIDER_FORMATS`); ``uniqueItems``; ``required``, ``dependentRequired``;
- ``properties``/``additionalProperties`` (so a new required property, a property removed from a
  closed model, or an optional property added to a closed model for FORWARD are all found);
- ``items``/``prefixItems``; ``anyOf`` (each writer alternative must fit a reader alternative);
- any other keyword only when the writer has exactly the same value (``oneOf``, ``not``,
  ``if``/``then``/``else``, ``patternProperties``, ``unevaluated*``...); unknown keywords of the
  reader are reported.

Problems name the place in the *data* (``/applicant/personalId``; ``/*`` is any array item or any
other property) and say which version rejects what.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import referencing
import referencing.exceptions
from jsonschema import Draft202012Validator
from referencing.jsonschema import DRAFT202012

from router.identifiers import WIDER_FORMATS
from schemas.formats import format_checker

if TYPE_CHECKING:
    from referencing._core import Resolver


class Mode(StrEnum):
    BACKWARD = "BACKWARD"
    FORWARD = "FORWARD"
    FULL = "FULL"
    NONE = "NONE"


# Keywords that assert nothing about an instance (or are handled where they matter, like $id).
ANNOTATIONS = frozenset(
    {
        "$schema",
        "$id",
        "$anchor",
        "$dynamicAnchor",
        "$defs",
        "$comment",
        "$vocabulary",
        "title",
        "description",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
    }
)
# Keywords that only the identical value on the writer side can prove, grouped by the keywords
# whose meaning depends on each other.
_OPAQUE_GROUPS: tuple[tuple[str, ...], ...] = (
    ("if", "then", "else"),
    ("contains", "minContains", "maxContains"),
    ("oneOf",),
    ("not",),
    ("propertyNames",),
    ("dependentSchemas",),
    ("unevaluatedProperties",),
    ("unevaluatedItems",),
    ("$dynamicRef",),
)
_OBJECT_GROUP = ("properties", "additionalProperties", "patternProperties")
_ARRAY_GROUP = ("prefixItems", "items")
_LOWER = {"minLength": "string", "minItems": "array", "minProperties": "object"}
_UPPER = {"maxLength": "string", "maxItems": "array", "maxProperties": "object"}
# Types are "null", "boolean", "object", "array", "string", "integer" and "fraction" (a number that
# is not an integer), so that "number" is the set {"integer", "fraction"}.
_NUMERIC = frozenset({"integer", "fraction"})
_KNOWN = (
    ANNOTATIONS
    | {k for group in _OPAQUE_GROUPS for k in group}
    | set(_OBJECT_GROUP)
    | set(_ARRAY_GROUP)
    | set(_LOWER)
    | set(_UPPER)
    | {
        "$ref",
        "allOf",
        "anyOf",
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "pattern",
        "format",
        "uniqueItems",
        "required",
        "dependentRequired",
    }
)
MAX_DEPTH = 64
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


def check(
    old: dict[str, Any] | bool,
    new: dict[str, Any] | bool,
    mode: Mode | str,
    registry: referencing.Registry[Any] | None = None,
    *,
    old_name: str = "old",
    new_name: str = "new",
) -> list[str]:
    """The problems that make ``new`` not ``mode``-compatible with ``old``; empty when compatible.

    ``registry`` resolves ``$ref`` to other documents (the schema registry passes its own); without
    one, only references inside ``old`` and ``new`` resolve.
    """
    mode = Mode(mode)
    if mode is Mode.NONE:
        return []
    old_side, new_side = _sides(old, new, registry)
    problems: list[str] = []
    if mode in (Mode.BACKWARD, Mode.FULL):
        prover = _Prover(writer=old_name, reader=new_name)
        problems += [f"BACKWARD: {p}" for p in prover.subset([old_side], new_side, "")]
    if mode in (Mode.FORWARD, Mode.FULL):
        prover = _Prover(writer=new_name, reader=old_name)
        problems += [f"FORWARD: {p}" for p in prover.subset([new_side], old_side, "")]
    return problems


# --- schemas with the resolver of their place ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Side:
    schema: Any  # a dict or a bool
    resolver: Resolver[Any]

    def key(self) -> tuple[int, str]:
        return id(self.schema), _base(self.resolver)


def _base(resolver: Resolver[Any]) -> str:
    # referencing keeps the base URI private; it is only used to tell contexts apart.
    return str(getattr(resolver, "_base_uri", ""))


def _sides(old: Any, new: Any, registry: referencing.Registry[Any] | None) -> tuple[_Side, _Side]:
    registry = registry if registry is not None else referencing.Registry()
    ids = [s.get("$id") if isinstance(s, dict) else None for s in (old, new)]
    uris = [str(i) for i in ids]
    if None in ids or ids[0] == ids[1]:
        # Each side needs a place of its own for its references to itself to mean the right thing.
        uris = ["urn:lienthong:compat:old", "urn:lienthong:compat:new"]
    sides = []
    for schema, uri in zip((old, new), uris, strict=True):
        registry = registry.with_resource(uri, DRAFT202012.create_resource(schema))
        sides.append(_Side(schema, registry.resolver(base_uri=uri)))
    return sides[0], sides[1]


def _enter(schema: Any, resolver: Resolver[Any]) -> _Side:
    """A subschema with the resolver of its place (a nested ``$id`` changes the base URI)."""
    if isinstance(schema, dict) and "$id" in schema:
        resolver = resolver.in_subresource(DRAFT202012.create_resource(schema))
    return _Side(schema, resolver)


def _has_relative_ref(schema: Any) -> bool:
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str) and not _ABSOLUTE.match(value):
                return True
            if _has_relative_ref(value):
                return True
    elif isinstance(schema, list):
        return any(_has_relative_ref(v) for v in schema)
    return False


def _same_values(writer: _Side, reader: _Side, keys: Sequence[str]) -> bool:
    """True when the writer has exactly the reader's values for ``keys`` and they mean the same."""
    w, r = writer.schema, reader.schema
    if not isinstance(w, dict) or not isinstance(r, dict):
        return False
    if any(_json_key(w.get(k, _MISSING)) != _json_key(r.get(k, _MISSING)) for k in keys):
        return False
    values = [r[k] for k in keys if k in r]
    # The same relative reference means the same thing only from the same place.
    return not _has_relative_ref(values) or _base(writer.resolver) == _base(reader.resolver)


def _identical(writer: _Side, reader: _Side) -> bool:
    if writer.schema is reader.schema and _base(writer.resolver) == _base(reader.resolver):
        return True
    w, r = writer.schema, reader.schema
    if isinstance(w, bool) or isinstance(r, bool):
        return w is r
    if not isinstance(w, dict) or not isinstance(r, dict):
        return False
    keys = (set(w) | set(r)) - ANNOTATIONS
    return _same_values(writer, reader, sorted(keys))


_MISSING = object()


def _json_key(value: Any) -> Any:
    """A value for comparing JSON: 1 == 1.0 but True != 1, as in JSON Schema."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", Fraction(value) if math.isfinite(value) else str(value))
    if isinstance(value, dict):
        return ("object", tuple(sorted((k, _json_key(v)) for k, v in value.items())))
    if isinstance(value, list):
        return ("array", tuple(_json_key(v) for v in value))
    if value is _MISSING:
        return ("missing",)
    return (type(value).__name__, value)


# --- the prover ------------------------------------------------------------------------------------


class _Prover:
    """Proves ``writer ⊆ reader`` for one pair of versions; collects what it cannot prove."""

    def __init__(self, writer: str, reader: str) -> None:
        self.w = writer
        self.r = reader
        self._assumed: set[tuple[Any, ...]] = set()

    def subset(self, writers: list[_Side], reader: _Side, path: str, depth: int = 0) -> list[str]:
        """Problems showing that the conjunction of ``writers`` is not within ``reader``."""
        if depth > MAX_DEPTH:
            return [f"{path or '/'}: cannot prove: the schemas nest deeper than {MAX_DEPTH}"]
        r = reader.schema
        if r is True or (isinstance(r, dict) and not set(r) - ANNOTATIONS):
            return []
        if any(w.schema is False for w in writers):
            return []
        if any(_identical(w, reader) for w in writers):
            return []
        # Recursive schemas: assume what is being proved (a coinductive proof, sound for $ref cycles).
        key = (tuple(sorted(w.key() for w in writers)), reader.key())
        if key in self._assumed:
            return []
        self._assumed.add(key)
        try:
            return self._subset(writers, reader, path, depth)
        finally:
            self._assumed.discard(key)

    def _subset(self, writers: list[_Side], reader: _Side, path: str, depth: int) -> list[str]:
        try:
            readers = list(self._conjuncts(reader))
            flat = [c for w in writers for c in self._conjuncts(w)]
        except referencing.exceptions.Unresolvable as error:
            return [f"{path or '/'}: cannot prove: cannot resolve {error}"]
        if any(c.schema is False for c in flat):
            return []
        if len(readers) != 1 or readers[0].schema is not reader.schema:
            return [p for r in readers for p in self.subset(flat, r, path, depth + 1)]
        if reader.schema is False:
            return [f"{path or '/'}: {self.r} accepts nothing here, {self.w} accepts some values"]
        if any(_identical(w, reader) for w in flat):
            return []
        return self._keywords(flat, reader, path, depth)

    def _conjuncts(self, side: _Side) -> Iterator[_Side]:
        """Splits a schema into the schemas it is the conjunction of (``$ref``, ``allOf``)."""
        schema = side.schema
        if not isinstance(schema, dict) or ("$ref" not in schema and "allOf" not in schema):
            yield side
            return
        rest = {k: v for k, v in schema.items() if k not in ("$ref", "allOf")}
        if set(rest) - ANNOTATIONS:
            yield _Side(rest, side.resolver)
        if "$ref" in schema:
            resolved = side.resolver.lookup(schema["$ref"])
            yield from self._conjuncts(_enter(resolved.contents, resolved.resolver))
        for item in schema.get("allOf", ()):
            yield from self._conjuncts(_enter(item, side.resolver))

    # --- keyword by keyword ------------------------------------------------------------------------

    def _keywords(self, writers: list[_Side], reader: _Side, path: str, depth: int) -> list[str]:
        r: dict[str, Any] = reader.schema
        here = path or "/"
        wdicts = [w for w in writers if isinstance(w.schema, dict)]
        types = _types(w.schema for w in wdicts)
        values = _values(w.schema for w in wdicts)
        problems: list[str] = []
        done: set[str] = set(ANNOTATIONS)

        for group in (*_OPAQUE_GROUPS, _OBJECT_GROUP, _ARRAY_GROUP):
            if not any(k in r for k in group):
                continue
            done.update(group)
            if any(_same_values(w, reader, group) for w in wdicts):
                continue
            if group is _OBJECT_GROUP:
                if types is None or "object" in types:
                    problems += self._properties(wdicts, reader, path, depth)
            elif group is _ARRAY_GROUP:
                if types is None or "array" in types:
                    problems += self._items(wdicts, reader, path, depth)
            else:
                problems.append(f"{here}: cannot prove: '{group[0]}' differs between {self.w} and {self.r}")

        if "anyOf" in r:
            done.add("anyOf")
            if not any(_same_values(w, reader, ("anyOf",)) for w in wdicts):
                problems += self._any_of(wdicts, reader, path, depth)

        for keyword in r:
            if keyword in done:
                continue
            if keyword not in _KNOWN:
                if not keyword.startswith("x-"):
                    problems.append(f"{here}: cannot prove: unknown keyword '{keyword}' in {self.r}")
                continue
            if keyword in ("type", "enum", "const") or values is None:
                problem = self._value_keyword(keyword, r, wdicts, types, values)
            else:
                # The writer allows finitely many values: try each of them against the reader.
                problem = self._finite(keyword, r, values)
            if problem is not None:
                problems.append(f"{here}: {problem}")
        return problems

    def _value_keyword(
        self,
        keyword: str,
        r: dict[str, Any],
        writers: list[_Side],
        types: frozenset[str] | None,
        values: list[Any] | None,
    ) -> str | None:
        value = r[keyword]
        ws: list[dict[str, Any]] = [w.schema for w in writers]
        if keyword == "type":
            wanted = _expand(value)
            if types is None:
                return f"{self.r} accepts only {_names(wanted)}; {self.w} does not restrict the type"
            extra = types - wanted
            return f"{self.r} does not accept {_names(extra)}, which {self.w} accepts" if extra else None
        if keyword in ("enum", "const"):
            allowed = [_json_key(v) for v in (value if keyword == "enum" else [value])]
            if values is None:
                return f"{self.r} accepts only {_show(value)}; {self.w} accepts other values"
            missing = [v for v in values if _json_key(v) not in allowed]
            return f"{self.r} does not accept {_show(missing)}, which {self.w} accepts" if missing else None
        applies = _applies_to(keyword)
        if types is not None and applies is not None and not types & applies:
            return None
        if keyword in _LOWER:
            have = [w[keyword] for w in ws if keyword in w]
            if not have or max(have) < value:
                return f"{self.r} requires {keyword} {value}; {self.w} {_bound(have, 'max')}"
            return None
        if keyword in _UPPER:
            have = [w[keyword] for w in ws if keyword in w]
            if not have or min(have) > value:
                return f"{self.r} requires {keyword} {value}; {self.w} {_bound(have, 'min')}"
            return None
        if keyword in ("minimum", "exclusiveMinimum"):
            return self._bound(ws, value, keyword == "exclusiveMinimum", lower=True)
        if keyword in ("maximum", "exclusiveMaximum"):
            return self._bound(ws, value, keyword == "exclusiveMaximum", lower=False)
        if keyword == "multipleOf":
            if any(_divides(value, w.get("multipleOf")) for w in ws):
                return None
            return f"{self.r} requires multiples of {value}; {self.w} does not"
        if keyword == "format":
            narrower = WIDER_FORMATS.get(value, frozenset())
            if any(w.get("format") == value or w.get("format") in narrower for w in ws):
                return None
            return f"{self.r} requires format {value!r}; {self.w} does not have it or a narrower one"
        if keyword == "pattern":
            if any(w.get(keyword) == value for w in ws):
                return None
            return f"{self.r} requires {keyword} {value!r}; {self.w} does not have the same {keyword}"
        if keyword == "uniqueItems":
            if value is not True or any(
                w.get("uniqueItems") is True or w.get("maxItems", 2) <= 1 for w in ws
            ):
                return None
            return f"{self.r} requires unique items; {self.w} does not"
        if keyword == "required":
            required = {name for w in ws for name in w.get("required", ())}
            missing = [name for name in value if name not in required]
            if not missing:
                return None
            return f"{self.r} requires {_show(missing)}, which {self.w} does not require"
        if keyword == "dependentRequired":
            always = {name for w in ws for name in w.get("required", ())}
            for name, needs in value.items():
                if not all(
                    n in always or any(n in w.get("dependentRequired", {}).get(name, ()) for w in ws)
                    for n in needs
                ):
                    return f"{self.r} requires {_show(needs)} with '{name}'; {self.w} does not"
            return None
        raise AssertionError(keyword)  # every known keyword is handled above

    def _bound(self, ws: list[dict[str, Any]], limit: Any, exclusive: bool, lower: bool) -> str | None:
        # The writer's tightest bound on that side, as (value, exclusive).
        names = ("minimum", "exclusiveMinimum") if lower else ("maximum", "exclusiveMaximum")
        best: tuple[Any, bool] | None = None
        for w in ws:
            for name, is_exclusive in zip(names, (False, True), strict=True):
                if name in w and isinstance(w[name], int | float):
                    candidate = (w[name], is_exclusive)
                    if best is None or _tighter(candidate, best, lower):
                        best = candidate
        keyword = names[1] if exclusive else names[0]
        if best is not None:
            bound, bound_exclusive = best
            inside = bound > limit if lower else bound < limit
            if inside or (bound == limit and (bound_exclusive or not exclusive)):
                return None
        said = "has no such bound" if best is None else f"allows {names[best[1]]} {best[0]}"
        return f"{self.r} requires {keyword} {limit}; {self.w} {said}"

    def _finite(self, keyword: str, r: dict[str, Any], values: list[Any]) -> str | None:
        check = Draft202012Validator({keyword: r[keyword]}, format_checker=format_checker())
        rejected = [v for v in values if not check.is_valid(v)]
        if rejected:
            return f"{self.r} ({keyword}) does not accept {_show(rejected)}, which {self.w} accepts"
        return None

    def _properties(self, writers: list[_Side], reader: _Side, path: str, depth: int) -> list[str]:
        r = reader.schema
        sides = [*writers, reader]
        if any("patternProperties" in s.schema for s in sides):
            return [f"{path or '/'}: cannot prove: 'patternProperties' differs between {self.w} and {self.r}"]
        names: list[str] = []
        for s in sides:
            names += [n for n in s.schema.get("properties", {}) if n not in names]
        problems: list[str] = []
        for name in names:
            where = f"{path}/{_escape(name)}"
            theirs = [_property(w, name) for w in writers]
            ours = _property(reader, name)
            if ours.schema is False and not any(w.schema is False for w in theirs):
                problems.append(f"{where}: {self.r} does not accept this property, which {self.w} accepts")
            else:
                problems += self.subset(theirs, ours, where, depth + 1)
        theirs = [_enter(w.schema.get("additionalProperties", True), w.resolver) for w in writers]
        ours = _enter(r.get("additionalProperties", True), reader.resolver)
        if ours.schema is False and not any(w.schema is False for w in theirs):
            problems.append(
                f"{path or '/'}: {self.r} accepts no properties but {_show(names)}; {self.w} accepts others"
            )
        else:
            problems += self.subset(theirs, ours, f"{path}/*", depth + 1)
        return problems

    def _items(self, writers: list[_Side], reader: _Side, path: str, depth: int) -> list[str]:
        longest = max(len(s.schema.get("prefixItems", ())) for s in [*writers, reader])
        problems: list[str] = []
        for index in range(longest):
            problems += self.subset(
                [_item(w, index) for w in writers], _item(reader, index), f"{path}/{index}", depth + 1
            )
        return problems + self.subset(
            [_item(w, None) for w in writers], _item(reader, None), f"{path}/*", depth + 1
        )

    def _any_of(self, writers: list[_Side], reader: _Side, path: str, depth: int) -> list[str]:
        options = [_enter(o, reader.resolver) for o in reader.schema["anyOf"]]
        # The writer's own alternatives (anyOf, or oneOf which is narrower) are tried one by one.
        split = next((w for w in writers if "anyOf" in w.schema or "oneOf" in w.schema), None)
        cases: list[list[_Side]] = [writers]
        if split is not None:
            others = [w for w in writers if w is not split]
            alternatives = split.schema.get("anyOf") or split.schema["oneOf"]
            cases = [[*others, _enter(a, split.resolver)] for a in alternatives]
        for case in cases:
            if not any(not self.subset(case, option, path, depth + 1) for option in options):
                return [
                    f"{path or '/'}: cannot prove that every value {self.w} accepts here matches one of "
                    f"the anyOf alternatives of {self.r}"
                ]
        return []


# --- helpers ---------------------------------------------------------------------------------------


def _property(side: _Side, name: str) -> _Side:
    schema = side.schema
    if name in schema.get("properties", {}):
        return _enter(schema["properties"][name], side.resolver)
    return _enter(schema.get("additionalProperties", True), side.resolver)


def _item(side: _Side, index: int | None) -> _Side:
    schema = side.schema
    prefix = schema.get("prefixItems", ())
    if index is not None and index < len(prefix):
        return _enter(prefix[index], side.resolver)
    return _enter(schema.get("items", True), side.resolver)


def _expand(value: Any) -> frozenset[str]:
    names = [value] if isinstance(value, str) else list(value)
    out: set[str] = set()
    for name in names:
        out |= _NUMERIC if name == "number" else {name}
    return frozenset(out)


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "fraction"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _types(schemas: Iterable[dict[str, Any]]) -> frozenset[str] | None:
    """The JSON types the conjunction of schemas allows; None when it does not restrict them."""
    found: frozenset[str] | None = None
    for schema in schemas:
        these: frozenset[str] | None = None
        if "type" in schema:
            these = _expand(schema["type"])
        if "const" in schema:
            these = frozenset({_type_of(schema["const"])})
        elif "enum" in schema:
            these = frozenset(_type_of(v) for v in schema["enum"])
        if these is not None:
            found = these if found is None else found & these
    return found


def _values(schemas: Iterable[dict[str, Any]]) -> list[Any] | None:
    """The values the conjunction allows, when it is a finite set (``enum``, ``const``)."""
    found: list[Any] | None = None
    for schema in schemas:
        these = [schema["const"]] if "const" in schema else schema.get("enum")
        if these is None:
            continue
        if found is None:
            found = list(these)
        else:
            keys = {_json_key(v) for v in these}
            found = [v for v in found if _json_key(v) in keys]
    return found


def _applies_to(keyword: str) -> frozenset[str] | None:
    if keyword in _LOWER:
        return frozenset({_LOWER[keyword]})
    if keyword in _UPPER:
        return frozenset({_UPPER[keyword]})
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"):
        return _NUMERIC
    if keyword in ("pattern", "format"):
        return frozenset({"string"})
    if keyword in ("uniqueItems",):
        return frozenset({"array"})
    if keyword in ("required", "dependentRequired"):
        return frozenset({"object"})
    return None


def _tighter(a: tuple[Any, bool], b: tuple[Any, bool], lower: bool) -> bool:
    if a[0] != b[0]:
        return bool(a[0] > b[0]) if lower else bool(a[0] < b[0])
    return a[1] and not b[1]


def _divides(reader: Any, writer: Any) -> bool:
    if not isinstance(writer, int | float) or isinstance(writer, bool) or not writer:
        return False
    return (Fraction(str(writer)) / Fraction(str(reader))).denominator == 1


def _bound(have: list[Any], pick: str) -> str:
    if not have:
        return "has no such bound"
    return f"allows {max(have) if pick == 'max' else min(have)}"


def _names(types: Iterable[str]) -> str:
    shown = sorted("non-integer numbers" if t == "fraction" else f"{t}s" for t in types)
    return ", ".join(shown) if shown else "nothing"


def _show(values: Any) -> str:
    text = repr(values)
    return text if len(text) <= 120 else text[:117] + "..."


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


__all__ = ["ANNOTATIONS", "Mode", "check"]
