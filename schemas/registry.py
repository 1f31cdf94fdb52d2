"""The schema registry: the event types the bus knows, their schemas, and validation of event data.

Loading reads and checks every contract (:mod:`schemas.loading`) and compiles one validator per
schema version (:mod:`schemas.validation`); any problem stops the load with a ``ConfigError``
naming every file, JSON path and fault. After that the registry is read-only, so the hot path
(:meth:`SchemaRegistry.validate`) is one dictionary look-up and one native call per valid event.

A ``dataschema`` attribute, when an event has one, must be the ``$id`` of one of its type's
versions; any other value is a ``MalformedEvent`` at ``/dataschema`` (the event names a contract
the bus does not have), while an unregistered type is an ``UnknownType``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import referencing

from router.errors import ConfigError, FieldError, MalformedEvent, NotFound, UnknownType
from schemas import compatibility, loading
from schemas.formats import format_checker
from schemas.validation import CompiledSchema, compile_all

EVENTS = Path(__file__).parent / "events"


@dataclass(frozen=True, slots=True)
class SchemaRef:
    """One version of one event type."""

    type: str
    version: int
    id: str


@dataclass(frozen=True, slots=True)
class EventTypeInfo:
    name: str
    versions: tuple[int, ...]
    latest: int
    compatibility: str
    description: str
    subject_pointer: str | None
    # its data holds personal data released to the system its ``recipient`` attribute names
    released_personal_data: bool = False


class SchemaRegistry:
    def __init__(self, contracts: loading.Contracts, compiled: dict[str, CompiledSchema]) -> None:
        """Use :meth:`load`."""
        self._contracts = contracts
        self._compiled = compiled
        self._is_valid = {uri: c.is_valid for uri, c in compiled.items()}
        self._infos: dict[str, EventTypeInfo] = {}
        self._refs: dict[str, SchemaRef] = {}
        self._latest: dict[str, SchemaRef] = {}
        for name, event_type in sorted(contracts.types.items()):
            versions = tuple(sorted(event_type.versions))
            self._infos[name] = EventTypeInfo(
                name=name,
                versions=versions,
                latest=versions[-1],
                compatibility=event_type.compatibility.value,
                description=event_type.description,
                subject_pointer=event_type.subject,
                released_personal_data=event_type.released_personal_data,
            )
            for version in versions:
                ref = SchemaRef(name, version, loading.schema_id(name, version))
                self._refs[ref.id] = ref
            self._latest[name] = self._refs[loading.schema_id(name, versions[-1])]
        self._reference: dict[str, jsonschema.protocols.Validator] = {}

    @classmethod
    def load(cls, root: Path | None = None, default_compatibility: str = "BACKWARD") -> SchemaRegistry:
        """Loads and checks every contract under ``root`` (default: the packaged ``schemas/events``).

        ``default_compatibility`` is the mode of the types whose ``type.json`` names none.

        Raises ``ConfigError`` listing every problem: file, JSON path, what is wrong.
        """
        contracts, compiled, problems = _load(root or EVENTS, compatibility.Mode(default_compatibility))
        if problems:
            detail = f"{len(problems)} problem(s) in the schemas:\n" + "\n".join(map(str, problems))
            raise ConfigError(
                detail, tuple(FieldError(str(p.file), f"at {p.path}: {p.message}") for p in problems)
            )
        return cls(contracts, compiled)

    # --- the catalogue -------------------------------------------------------------------------------

    def types(self) -> list[EventTypeInfo]:
        return list(self._infos.values())

    def info(self, type: str) -> EventTypeInfo:
        info = self._infos.get(type)
        if info is None:
            raise UnknownType(f"the event type '{type}' is not registered")
        return info

    def schema(self, type: str, version: int, *, bundled: bool = True) -> dict[str, Any]:
        """A copy of the schema of ``type`` ``version``.

        ``bundled`` (the default) embeds the shared documents it references under ``$defs``, keyed
        by their ``$id`` (a JSON Schema 2020-12 compound document), so the schema stands alone for
        a client; its ``$ref`` values are unchanged.
        """
        info = self.info(type)
        if version not in info.versions:
            raise NotFound(f"'{type}' has no version {version}; it has {list(info.versions)}")
        uri = loading.schema_id(type, version)
        out = copy.deepcopy(self._contracts.documents[uri])
        if bundled:
            dependencies = sorted(self._contracts.depends_on[uri])
            if dependencies:
                defs = out.setdefault("$defs", {})
                for dependency in dependencies:
                    defs[dependency] = copy.deepcopy(self._contracts.documents[dependency])
        return out

    def knows(self, type: str) -> bool:
        """Whether ``type`` is registered (a metric may then name it: it is not producer input)."""
        return type in self._latest

    def released_types(self) -> frozenset[str]:
        """The types whose data holds personal data released to one system, the event's
        ``recipient``: the bus delivers them to that system only (router.recipients)."""
        return frozenset(name for name, info in self._infos.items() if info.released_personal_data)

    def subject_pointer(self, type: str) -> str | None:
        """The JSON pointer into the data whose value is the event's subject, if the type has one."""
        return self.info(type).subject_pointer

    # --- publishing --------------------------------------------------------------------------------------

    def resolve(self, type: str, dataschema: str | None) -> SchemaRef:
        """The schema an event of ``type`` is checked against: its ``dataschema``, or the latest."""
        latest = self._latest.get(type)
        if latest is None:
            raise UnknownType(f"the event type '{type}' is not registered")
        if dataschema is None:
            return latest
        ref = self._refs.get(dataschema)
        if ref is None or ref.type != type:
            known = ", ".join(loading.schema_id(type, v) for v in self._infos[type].versions)
            detail = f"dataschema '{dataschema}' is not a schema of '{type}'; use one of: {known}"
            raise MalformedEvent(detail, (FieldError("/dataschema", detail),))
        return ref

    def validate(self, ref: SchemaRef, data: Any, pointer_prefix: str = "/data") -> tuple[FieldError, ...]:
        """The errors of ``data`` against ``ref`` (empty when valid), as JSON pointers."""
        try:
            if self._is_valid[ref.id](data):
                return ()
        except KeyError:
            raise UnknownType(f"no schema '{ref.id}' is registered") from None
        except (ValueError, TypeError, OverflowError) as error:
            # Data that did not come from JSON (an unsupported object) or that nests absurdly deep.
            return (FieldError(pointer_prefix, f"cannot be checked: {error}"),)
        return self._compiled[ref.id].errors(data, pointer_prefix)

    # --- checking --------------------------------------------------------------------------------------

    def reference_validator(self, ref: SchemaRef) -> jsonschema.protocols.Validator:
        """python-jsonschema's validator of ``ref``, with the same formats: the yardstick of the
        benchmark and the tests, not used by the bus."""
        validator = self._reference.get(ref.id)
        if validator is None:
            validator = jsonschema.Draft202012Validator(
                self._contracts.documents[ref.id],
                registry=self._contracts.registry,
                format_checker=format_checker(),
            )
            self._reference[ref.id] = validator
        return validator

    @property
    def documents(self) -> referencing.Registry[Any]:
        """Every schema document, shared ones included, for $ref resolution (python-jsonschema)."""
        return self._contracts.registry


def check_all(root: Path | None = None) -> list[str]:
    """Every problem of the contracts under ``root`` (``lienthong schemas check``); empty if none."""
    return [str(p) for p in _load(root or EVENTS)[2]]


def _load(
    root: Path, default_mode: compatibility.Mode = compatibility.Mode.BACKWARD
) -> tuple[loading.Contracts, dict[str, CompiledSchema], list[loading.Problem]]:
    contracts = loading.read(root, default_mode)
    if contracts.problems:
        return contracts, {}, contracts.problems
    files = {
        loading.schema_id(name, version): file
        for name, event_type in sorted(contracts.types.items())
        for version, file in sorted(event_type.files.items())
    }
    compiled: dict[str, CompiledSchema] = {}
    problems: list[loading.Problem] = []
    for uri, result in compile_all(contracts.documents, files):
        if isinstance(result, CompiledSchema):
            compiled[uri] = result
        else:
            reason = " ".join(str(result).split())[:300]
            problems.append(loading.Problem(files[uri], "$", f"does not compile: {reason}"))
    return contracts, compiled, problems
