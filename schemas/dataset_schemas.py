"""The dataset schemas: what a provider connector answers, one JSON Schema per dataset version.

Layout under ``schemas/datasets`` (as the event contracts, without ``type.json``)::

    <dataset>/<version>.json   $id urn:lienthong:dataset:<dataset>:<version>
    _<name>/<version>.json     shared definitions, $id urn:lienthong:dataset:<name>:<version>

Each file is checked as the event contracts are (:func:`schemas.loading.read_schema_file`) and
compiled with the bus's identifier formats (:func:`schemas.validation.compile_all`). Replies are
checked against a dataset's latest version, so each version must be BACKWARD-compatible with the
one before (:func:`schemas.compatibility.check`): a record a provider built for an older version
stays valid. Any problem stops the load with a ``ConfigError`` naming every file, path and fault.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import referencing
from referencing.jsonschema import DRAFT202012

from router.errors import ConfigError, FieldError, NotFound
from schemas import compatibility
from schemas.loading import TYPE_NAME, VERSION_FILE, Problem, read_schema_file
from schemas.validation import CompiledSchema, compile_all

DATASETS = Path(__file__).parent / "datasets"
ID_PREFIX = "urn:lienthong:dataset:"


def dataset_id(name: str, version: int) -> str:
    return f"{ID_PREFIX}{name}:{version}"


@dataclass(frozen=True)
class DatasetSchemas:
    documents: dict[str, dict[str, Any]]  # $id -> schema, shared definitions included
    versions: dict[str, tuple[int, ...]]  # dataset -> its versions, ascending
    compiled: dict[str, CompiledSchema]

    def latest(self, dataset: str) -> int:
        if dataset not in self.versions:
            raise NotFound(f"no dataset {dataset!r}; known: {', '.join(sorted(self.versions))}")
        return self.versions[dataset][-1]

    def latest_document(self, dataset: str) -> dict[str, Any]:
        """The latest version of ``dataset``'s schema (NotFound when it has none)."""
        return self.documents[dataset_id(dataset, self.latest(dataset))]

    def personal_paths(self, dataset: str) -> tuple[str, ...]:
        """Where the latest version of ``dataset``'s record holds a person's identifier; none for
        a dataset without a schema."""
        if dataset not in self.versions:
            return ()
        return tuple(sorted(set(personal_paths(self.latest_document(dataset)))))

    def validate(self, dataset: str, data: Any, version: int | None = None) -> tuple[FieldError, ...]:
        """The errors of ``data`` against the dataset's schema (the latest version by default),
        at JSON pointers into ``data``; empty when it is valid. The messages never quote a value
        of ``data``: it is a provider's record, perhaps about a person, and the errors reach the
        requester, whose purpose may not allow it to see those values."""
        uri = dataset_id(dataset, self.latest(dataset) if version is None else version)
        schema = self.compiled.get(uri)
        if schema is None:
            raise NotFound(f"no schema {uri}")
        return () if schema.is_valid(data) else schema.errors(data, "", quote=False)


# A person's identifier in a record: a property typed as the shared personal ID, or as a tax code
# that may be one (the tax code of individuals and household businesses), or a date of birth.
_PERSONAL_ID_REFS = ("/$defs/personalId", "/$defs/taxCodeOrPersonalId")
_PERSONAL_NAMES = frozenset({"dateOfBirth"})


def personal_paths(schema: Any, pointer: str = "") -> Iterator[str]:
    """The JSON pointers of a record schema where a person's identifier lives (``*`` for every
    item of an array): what a dataset classed ``personal_data: none`` must not release."""
    if not isinstance(schema, dict):
        return
    if str(schema.get("$ref", "")).endswith(_PERSONAL_ID_REFS):
        yield pointer or "/"
    for name, sub in schema.get("properties", {}).items():
        if name in _PERSONAL_NAMES:
            yield f"{pointer}/{name}"
        yield from personal_paths(sub, f"{pointer}/{name}")
    yield from personal_paths(schema.get("items"), f"{pointer}/*")
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, ()):
            yield from personal_paths(sub, pointer)
    for key in ("then", "else"):
        yield from personal_paths(schema.get(key), pointer)


def load(root: Path = DATASETS) -> DatasetSchemas:
    problems: list[Problem] = []
    documents: dict[str, dict[str, Any]] = {}
    versions: dict[str, list[int]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        shared = folder.name.startswith("_")
        name = folder.name.removeprefix("_")
        if TYPE_NAME.fullmatch(name) is None:
            problems.append(
                Problem(folder, "$", "a folder is named after its dataset: dotted lower-case words")
            )
            continue
        for file in sorted(folder.glob("*.json")):
            match = VERSION_FILE.fullmatch(file.name)
            if match is None:
                problems.append(Problem(file, "$", "unexpected file: expected <version>.json"))
                continue
            version = int(match.group(1))
            schema, found = read_schema_file(file, dataset_id(name, version))
            problems.extend(found)
            if schema is not None:
                documents[dataset_id(name, version)] = schema
                if not shared:
                    versions.setdefault(name, []).append(version)
    problems += _incompatible(root, documents, versions)
    ids = [dataset_id(name, v) for name, vs in versions.items() for v in vs]
    compiled: dict[str, CompiledSchema] = {}
    for uri, result in compile_all(documents, ids):
        if isinstance(result, Exception):
            problems.append(Problem(root, uri, f"does not compile: {result}"))
        else:
            compiled[uri] = result
    if problems:
        raise ConfigError("invalid dataset schemas:\n" + "\n".join(str(p) for p in problems))
    return DatasetSchemas(documents, {k: tuple(sorted(v)) for k, v in versions.items()}, compiled)


def _incompatible(
    root: Path, documents: dict[str, dict[str, Any]], versions: dict[str, list[int]]
) -> list[Problem]:
    """Each pair of consecutive versions of a dataset that is not BACKWARD-compatible."""
    registry: referencing.Registry[Any] = referencing.Registry().with_resources(
        (uri, DRAFT202012.create_resource(doc)) for uri, doc in documents.items()
    )
    problems: list[Problem] = []
    for name, found in versions.items():
        for older, newer in itertools.pairwise(sorted(found)):
            for problem in compatibility.check(
                documents[dataset_id(name, older)],
                documents[dataset_id(name, newer)],
                compatibility.Mode.BACKWARD,
                registry,
                old_name=f"v{older}",
                new_name=f"v{newer}",
            ):
                problems.append(
                    Problem(
                        root / name / f"{newer}.json",
                        "$",
                        f"not BACKWARD-compatible with v{older}: {problem}",
                    )
                )
    return problems


@functools.cache
def shipped() -> DatasetSchemas:
    """The datasets of this repository, loaded once."""
    return load()
