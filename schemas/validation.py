"""The hot path: compiled validators (jsonschema-rs) and their errors as JSON pointers.

``bench/validation.py`` measured jsonschema-rs against python-jsonschema on the dossier schemas
(see ``docs/benchmarks.md``); the test suite checks that both agree on every shipped example.

A custom format in jsonschema-rs is a Python callback, and one callback per string costs more
than validating the rest of an event. So the identifier formats that are regular languages
(:data:`router.identifiers.PATTERNS`) are compiled as native ``pattern`` keywords instead ("lowered");
errors on those patterns are reported as the format they stand for. Only ``vn-tax-code`` (its
check digit is arithmetic) remains a callback.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import jsonschema_rs

from router.errors import FieldError
from router.identifiers import FORMATS, PATTERNS
from schemas import walk
from schemas.formats import DESCRIPTIONS

# Enough to fix a payload in one round trip, few enough to keep a hostile payload's reply small.
MAX_ERRORS = 20
_FORMAT_OF_PATTERN = {pattern: name for name, pattern in PATTERNS.items()}
_CALLBACKS = {name: check for name, check in FORMATS.items() if name not in PATTERNS}


def lower(schema: Any) -> Any:
    """A copy of ``schema`` where each format of :data:`PATTERNS` is the equivalent ``pattern``."""

    def change(sub: Any) -> Any:
        if not isinstance(sub, dict) or sub.get("format") not in PATTERNS:
            return sub
        out = {k: v for k, v in sub.items() if k != "format"}
        check = {"pattern": PATTERNS[sub["format"]]}
        if "pattern" in out:
            out["allOf"] = [*out.get("allOf", ()), check]
        else:
            out.update(check)
        return out

    return walk.map_schemas(schema, change)


def compile_all(
    documents: Mapping[str, Any], ids: Iterable[str]
) -> Iterator[tuple[str, CompiledSchema | Exception]]:
    """Compiles each of ``ids``: its validator, or what went wrong."""
    # Every document is lowered: the formats live in the shared definitions.
    lowered = {uri: lower(doc) for uri, doc in documents.items()}
    try:
        registry = jsonschema_rs.Registry(list(lowered.items()))
    except (jsonschema_rs.ReferencingError, ValueError) as error:
        for uri in ids:
            yield uri, error
        return
    for uri in ids:
        try:
            yield uri, CompiledSchema(lowered[uri], registry)
        except (jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError, ValueError) as error:
            yield uri, error


class CompiledSchema:
    """One schema version, compiled once; ``is_valid`` is the whole cost of a valid event."""

    __slots__ = ("_validator", "is_valid")

    def __init__(self, schema: Any, registry: jsonschema_rs.Registry) -> None:
        self._validator = jsonschema_rs.Draft202012Validator(
            schema,
            formats=_CALLBACKS,
            validate_formats=True,
            ignore_unknown_formats=False,
            registry=registry,
        )
        self.is_valid: Callable[[Any], bool] = self._validator.is_valid

    def errors(self, data: Any, prefix: str, *, quote: bool = True) -> tuple[FieldError, ...]:
        """Every error (up to :data:`MAX_ERRORS`), each at an RFC 6901 pointer below ``prefix``.

        With ``quote=False`` no message repeats a value of ``data`` (only its member names and
        the rule broken): for data that is not the caller's own, such as a provider's reply about
        a person, whose values the caller may not be allowed to see.
        """
        out: list[FieldError] = []
        try:
            for error in self._validator.iter_errors(data):
                out.extend(_field_errors(error, prefix) if quote else _unquoted_errors(error, prefix))
                if len(out) >= MAX_ERRORS:
                    break
        except ValueError:
            # jsonschema-rs copies the offending value into each error and gives up past ~250
            # levels of nesting; the data is invalid all the same (is_valid said so).
            return (*out[: MAX_ERRORS - 1], FieldError(prefix, "is nested too deeply to be checked"))
        return tuple(out[:MAX_ERRORS])


def pointer(prefix: str, path: list[str | int] | tuple[str | int, ...]) -> str:
    return prefix + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _field_errors(error: Any, prefix: str) -> list[FieldError]:
    kind = error.kind
    where = pointer(prefix, error.instance_path)
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        return [FieldError(pointer(where, [kind.property]), "is required but missing")]
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
        return [
            FieldError(pointer(where, [name]), "is not a property of this schema (not allowed here)")
            for name in kind.unexpected
        ]
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Format):
        return [FieldError(where, _not_of_format(error.instance, kind.format))]
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Pattern) and kind.pattern in _FORMAT_OF_PATTERN:
        return [FieldError(where, _not_of_format(error.instance, _FORMAT_OF_PATTERN[kind.pattern]))]
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Enum):
        options = ", ".join(_json(o, 40) for o in kind.options[:12])
        more = ", ..." if len(kind.options) > 12 else ""
        return [FieldError(where, f"{_json(error.instance, 80)} is not one of {options}{more}")]
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.AnyOf):
        missing = _alternative_requirements(kind.context)
        if missing:
            return [FieldError(where, f"needs one of {', '.join(missing)}")]
    return [FieldError(where, _short(error.message))]


def _unquoted_errors(error: Any, prefix: str) -> list[FieldError]:
    kind = error.kind
    if isinstance(
        kind,
        (jsonschema_rs.ValidationErrorKind.Required, jsonschema_rs.ValidationErrorKind.AdditionalProperties),
    ):
        return _field_errors(error, prefix)  # these name members, not values
    where = pointer(prefix, error.instance_path)
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Format):
        return [FieldError(where, f"is not {DESCRIPTIONS.get(kind.format, f'a valid {kind.format!r}')}")]
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Pattern) and kind.pattern in _FORMAT_OF_PATTERN:
        name = _FORMAT_OF_PATTERN[kind.pattern]
        return [FieldError(where, f"is not {DESCRIPTIONS.get(name, f'a valid {name!r}')}")]
    keyword = error.schema_path[-1] if error.schema_path else "schema"
    return [FieldError(where, f"breaks the schema's {keyword!r} rule (the value is not shown)")]


def _alternative_requirements(context: list[list[Any]]) -> list[str]:
    """For ``anyOf: [{required: [a]}, {required: [b]}]``: the names a, b; else nothing."""
    names: list[str] = []
    for branch in context:
        if not branch or not all(
            isinstance(e.kind, jsonschema_rs.ValidationErrorKind.Required) for e in branch
        ):
            return []
        names.append(" and ".join(f"'{e.kind.property}'" for e in branch))
    return names


def _not_of_format(value: Any, name: str) -> str:
    return f"{_json(value, 80)} is not {DESCRIPTIONS.get(name, f'a valid {name!r}')}"


def _json(value: Any, limit: int) -> str:
    return _short(json.dumps(value, ensure_ascii=False), limit)


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
