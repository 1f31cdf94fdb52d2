"""Reading the contract files and checking everything that can be checked before the bus runs.

Layout under the root (``schemas/events`` by default)::

    <event type>/<version>.json   the schema of one version (version: 1, 2, ...)
    <event type>/type.json        optional: {"compatibility", "description", "subject",
                                            "released_personal_data"}
    _<name>/<version>.json        shared definitions, referenced by the types ($id below)

A schema's ``$id`` is ``urn:lienthong:schema:<type or name>:<version>``; a ``$ref`` is either local
(``#/$defs/x``) or absolute to such an id (``urn:lienthong:schema:common:1#/$defs/x``). Nothing is
fetched from the network.

Every problem found is collected (not just the first) as a :class:`Problem` naming the file, the
JSON path inside it and what is wrong.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import referencing
import referencing.exceptions
from jsonschema import Draft202012Validator
from referencing.jsonschema import DRAFT202012

from router.identifiers import FORMATS
from schemas import compatibility, walk

DRAFT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:lienthong:schema:"
TYPE_FILE = "type.json"
# Event types are dotted lower-case words: dossier.status.changed.
TYPE_NAME = re.compile(r"[a-z][a-z0-9_-]*(?:\.[a-z][a-z0-9_-]*)*")
VERSION_FILE = re.compile(r"([1-9][0-9]{0,5})\.json")
STANDARD_FORMATS = frozenset(
    {
        "date-time",
        "date",
        "time",
        "duration",
        "email",
        "idn-email",
        "hostname",
        "idn-hostname",
        "ipv4",
        "ipv6",
        "uri",
        "uri-reference",
        "iri",
        "iri-reference",
        "uuid",
        "uri-template",
        "json-pointer",
        "relative-json-pointer",
        "regex",
    }
)
KNOWN_FORMATS = STANDARD_FORMATS | set(FORMATS)
_ABSOLUTE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")

TYPE_FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "compatibility": {"enum": [m.value for m in compatibility.Mode]},
        "description": {"type": "string", "maxLength": 2000},
        "subject": {"type": "string", "pattern": "^(/([^~/]|~[01])*)+$"},
        # the data holds personal data the bus released to one system, which the event's
        # ``recipient`` attribute names: only that system may receive it (router.recipients)
        "released_personal_data": {"type": "boolean"},
    },
    "additionalProperties": False,
}


def schema_id(name: str, version: int) -> str:
    return f"{ID_PREFIX}{name}:{version}"


@dataclass(frozen=True, slots=True)
class Problem:
    file: Path
    path: str  # a JSON path inside the file, "$" for the file as a whole
    message: str

    def __str__(self) -> str:
        return f"{self.file}: at {self.path}: {self.message}"


@dataclass(slots=True)
class TypeFiles:
    """One event type as read from its folder."""

    name: str
    versions: dict[int, dict[str, Any]] = field(default_factory=dict)
    files: dict[int, Path] = field(default_factory=dict)
    compatibility: compatibility.Mode = compatibility.Mode.BACKWARD
    description: str = ""
    subject: str | None = None
    released_personal_data: bool = False


@dataclass(slots=True)
class Contracts:
    """Everything read from a root; usable only when ``problems`` is empty."""

    root: Path
    # the mode of a type whose type.json names none (the configuration's schemas.compatibility)
    default_mode: compatibility.Mode = compatibility.Mode.BACKWARD
    documents: dict[str, dict[str, Any]] = field(default_factory=dict)  # $id -> schema
    files: dict[str, Path] = field(default_factory=dict)  # $id -> file
    types: dict[str, TypeFiles] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    registry: referencing.Registry[Any] = field(default_factory=referencing.Registry)
    # $id -> the ids of the other documents it references, directly or not
    depends_on: dict[str, frozenset[str]] = field(default_factory=dict)
    # the ids of the files that could not be read: what refers to them is not checked further
    broken: set[str] = field(default_factory=set)


def read(root: Path, default_mode: compatibility.Mode = compatibility.Mode.BACKWARD) -> Contracts:
    """Reads and checks every contract under ``root``."""
    out = Contracts(root=root, default_mode=default_mode)
    if not root.is_dir():
        out.problems.append(Problem(root, "$", "the schema folder does not exist"))
        return out
    for folder in sorted(root.iterdir()):
        if folder.name.startswith("."):
            continue
        if not folder.is_dir():
            if not folder.name.lower().startswith("readme"):
                out.problems.append(
                    Problem(folder, "$", "unexpected file: put schemas in <type>/<version>.json")
                )
            continue
        _read_folder(out, folder)
    out.registry = referencing.Registry().with_resources(
        (uri, DRAFT202012.create_resource(doc)) for uri, doc in out.documents.items()
    )
    for uri, doc in out.documents.items():
        _check_refs(out, uri, doc)
    for uri in out.documents:
        out.depends_on[uri] = _closure(out, uri)
    for event_type in out.types.values():
        uris = [schema_id(event_type.name, v) for v in event_type.versions]
        if not any(out.depends_on[uri] & out.broken for uri in uris):
            _check_subject(out, event_type)
            _check_compatibility(out, event_type)
    return out


# --- files -----------------------------------------------------------------------------------------


def _read_folder(out: Contracts, folder: Path) -> None:
    shared = folder.name.startswith("_")
    name = folder.name[1:] if shared else folder.name
    if TYPE_NAME.fullmatch(name) is None:
        out.problems.append(
            Problem(folder, "$", "a folder is named after its event type: dotted lower-case words")
        )
        return
    event_type = TypeFiles(name, compatibility=out.default_mode)
    type_file: Path | None = None
    for file in sorted(folder.iterdir()):
        if file.name.startswith("."):
            continue
        match = VERSION_FILE.fullmatch(file.name)
        if file.name == TYPE_FILE and not shared:
            type_file = file
        elif match is None or not file.is_file():
            expected = "<version>.json" if shared else "<version>.json or type.json"
            out.problems.append(Problem(file, "$", f"unexpected file: expected {expected}, version 1, 2..."))
        else:
            version = int(match.group(1))
            schema = _read_schema(out, file, schema_id(name, version))
            if schema is not None:
                event_type.versions[version] = schema
                event_type.files[version] = file
    if shared:
        return
    if not event_type.versions and not any(p.file.parent == folder for p in out.problems):
        out.problems.append(Problem(folder, "$", "an event type needs at least one version file, 1.json"))
    if type_file is not None:
        _read_type_file(out, type_file, event_type)
    if not event_type.description and event_type.versions:
        latest = event_type.versions[max(event_type.versions)]
        event_type.description = str(latest.get("description") or latest.get("title") or "")
    out.types[name] = event_type


def _load_json(out: Contracts, file: Path) -> Any:
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise ValueError(f"the key {key!r} appears twice in one object")
            seen[key] = value
        return seen

    try:
        return json.loads(file.read_bytes(), object_pairs_hook=unique)
    except json.JSONDecodeError as error:
        message = f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
    except (ValueError, UnicodeDecodeError, OSError) as error:
        message = f"not valid JSON: {error}"
    out.problems.append(Problem(file, "$", message))
    return None


def _read_schema(out: Contracts, file: Path, expected_id: str) -> dict[str, Any] | None:
    schema = _load_json(out, file)
    if not isinstance(schema, dict):
        out.broken.add(expected_id)
        if schema is not None:
            out.problems.append(Problem(file, "$", "a schema file holds one JSON object"))
        return None
    problems = [
        Problem(file, error.json_path, f"not a valid JSON Schema 2020-12: {_short(error.message)}")
        for error in _METASCHEMA.iter_errors(schema)
    ]
    if schema.get("$schema") != DRAFT:
        problems.append(Problem(file, "$['$schema']", f"must be {DRAFT!r}"))
    if schema.get("$id") != expected_id:
        problems.append(Problem(file, "$['$id']", f"must be {expected_id!r}, from the file's place"))
    if not problems:
        problems = _lint(file, schema)
    out.problems.extend(problems)
    if problems:
        out.broken.add(expected_id)
        return None
    if expected_id in out.documents:
        out.problems.append(Problem(file, "$['$id']", f"{expected_id!r} is also {out.files[expected_id]}"))
        return None
    out.documents[expected_id] = schema
    out.files[expected_id] = file
    return schema


def read_schema_file(file: Path, expected_id: str) -> tuple[dict[str, Any] | None, list[Problem]]:
    """One schema file outside the event layout (the datasets), checked as the event contracts
    are: valid JSON, the 2020-12 metaschema, ``$schema``, ``$id`` and the lint below."""
    out = Contracts(root=file.parent)
    return _read_schema(out, file, expected_id), out.problems


_METASCHEMA = Draft202012Validator(
    Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER
)


def _lint(file: Path, schema: dict[str, Any]) -> list[Problem]:
    """What the metaschema lets through but is almost certainly a mistake."""
    problems: list[Problem] = []
    for path, sub in walk.walk(schema):
        if not isinstance(sub, dict):
            continue
        where = walk.json_path(path)
        for keyword in sub:
            if keyword in walk.KEYWORDS or keyword.startswith("x-"):
                continue
            hint = f"; use {walk.RENAMED[keyword]}" if keyword in walk.RENAMED else " (a typo?)"
            problems.append(Problem(file, where, f"unknown keyword {keyword!r}{hint}"))
        if path and "$id" in sub:
            problems.append(
                Problem(file, f"{where}['$id']", "put shared definitions in _<name>/<version>.json")
            )
        if "format" in sub and sub["format"] not in KNOWN_FORMATS:
            problems.append(
                Problem(
                    file,
                    f"{where}.format",
                    f"unknown format {sub['format']!r}; known: {sorted(KNOWN_FORMATS)}",
                )
            )
        ref = sub.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#") and _ABSOLUTE.match(ref) is None:
            problems.append(
                Problem(
                    file,
                    f"{where}['$ref']",
                    f"{ref!r}: refer to '#/...' in the same file or to an absolute '{ID_PREFIX}...' id",
                )
            )
    return problems


def _read_type_file(out: Contracts, file: Path, event_type: TypeFiles) -> None:
    settings = _load_json(out, file)
    if settings is None:
        return
    errors = list(Draft202012Validator(TYPE_FILE_SCHEMA).iter_errors(settings))
    for error in errors:
        out.problems.append(Problem(file, error.json_path, _short(error.message)))
    if errors:
        return
    event_type.compatibility = compatibility.Mode(settings.get("compatibility", out.default_mode.value))
    event_type.description = settings.get("description", "")
    event_type.subject = settings.get("subject")
    event_type.released_personal_data = bool(settings.get("released_personal_data", False))


# --- across files ------------------------------------------------------------------------------------


def _check_refs(out: Contracts, uri: str, doc: dict[str, Any]) -> None:
    resolver = out.registry.resolver(base_uri=uri)
    for path, sub in walk.walk(doc):
        ref = sub.get("$ref") if isinstance(sub, dict) else None
        if not isinstance(ref, str):
            continue
        if ref.split("#")[0] in out.broken:
            continue
        try:
            resolver.lookup(ref)
        except referencing.exceptions.Unresolvable as error:
            reason = "no such schema is registered" if ref.split("#")[0] not in out.documents else str(error)
            out.problems.append(
                Problem(
                    out.files[uri],
                    f"{walk.json_path(path)}['$ref']",
                    f"cannot resolve {ref!r}: {_short(reason)}",
                )
            )


def _direct_dependencies(doc: dict[str, Any]) -> set[str]:
    found = set()
    for _, sub in walk.walk(doc):
        ref = sub.get("$ref") if isinstance(sub, dict) else None
        if isinstance(ref, str) and not ref.startswith("#"):
            found.add(ref.split("#")[0])
    return found


def _closure(out: Contracts, uri: str) -> frozenset[str]:
    seen: set[str] = set()
    todo = [uri]
    while todo:
        for dependency in _direct_dependencies(out.documents.get(todo.pop(), {})):
            if dependency not in seen and dependency != uri:
                seen.add(dependency)
                todo.append(dependency)
    return frozenset(seen)


def _check_subject(out: Contracts, event_type: TypeFiles) -> None:
    """The subject pointer must name a string property that every version declares."""
    if event_type.subject is None:
        return
    for version, schema in sorted(event_type.versions.items()):
        problem = _declares(out, schema_id(event_type.name, version), schema, event_type.subject)
        if problem is not None:
            file = event_type.files[version].parent / TYPE_FILE
            out.problems.append(Problem(file, "$.subject", f"version {version}: {problem}"))


def _declares(out: Contracts, uri: str, schema: dict[str, Any], pointer: str) -> str | None:
    resolver = out.registry.resolver(base_uri=uri)
    node: Any = schema
    for raw in pointer.split("/")[1:]:
        name = raw.replace("~1", "/").replace("~0", "~")
        try:
            while isinstance(node, dict) and "$ref" in node and name not in node.get("properties", {}):
                resolved = resolver.lookup(node["$ref"])
                node, resolver = resolved.contents, resolved.resolver
        except referencing.exceptions.Unresolvable:
            return f"cannot follow the $ref to {name!r}"
        properties = node.get("properties", {}) if isinstance(node, dict) else {}
        if name not in properties:
            return f"{pointer!r} is not a declared property ({name!r} is missing)"
        node = properties[name]
    while isinstance(node, dict) and "$ref" in node and "type" not in node:
        try:
            resolved = resolver.lookup(node["$ref"])
        except referencing.exceptions.Unresolvable:
            return "cannot follow the $ref of the subject"
        node, resolver = resolved.contents, resolved.resolver
    if not isinstance(node, dict) or node.get("type") != "string":
        return f"the subject {pointer!r} must be declared with type 'string'"
    return None


def _check_compatibility(out: Contracts, event_type: TypeFiles) -> None:
    versions = sorted(event_type.versions)
    for older, newer in itertools.pairwise(versions):
        problems = compatibility.check(
            event_type.versions[older],
            event_type.versions[newer],
            event_type.compatibility,
            out.registry,
            old_name=f"v{older}",
            new_name=f"v{newer}",
        )
        for problem in problems:
            out.problems.append(
                Problem(
                    event_type.files[newer],
                    "$",
                    f"not {event_type.compatibility.value}-compatible with v{older}: {problem}",
                )
            )


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
