"""The evidence catalogue: the datasets the bus can pull and the procedures that need them.

A :class:`Dataset` names its provider (a configured connector), the identifiers a request is
keyed by, how personal its data is, how long a released record may be cached, and which fields
each purpose may see (data minimisation). A :class:`Procedure` (thủ tục hành chính, by its code)
lists the datasets it needs and how each request is keyed from the dossier a one-stop system
submitted: JSON pointers into the ``dossier.submitted`` data, where one ``*`` segment stands for
every item of an array (one request per vehicle plate), and a value that does not start with
``/`` is taken literally (a procedure code).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from router.evidence.minimise import field_tokens


class PersonalData(StrEnum):
    """How personal a dataset is: ``none`` (an enterprise's public registration), ``personal``
    (who a citizen is, where they live) or ``sensitive`` (never cached)."""

    NONE = "none"
    PERSONAL = "personal"
    SENSITIVE = "sensitive"


ALL_FIELDS = "*"


@dataclass(frozen=True, slots=True)
class Dataset:
    """``fields`` maps each purpose to the fields it may see: top-level names or JSON pointers
    (``/legalRepresentative/fullName``; ``*`` for every item of an array), or ``None`` for the whole
    record. A purpose not listed sees nothing: the request is refused."""

    name: str
    provider: str  # a connector's name
    key: tuple[str, ...]  # the identifiers a request carries, e.g. ("personal_id",)
    personal_data: PersonalData
    fields: Mapping[str, tuple[str, ...] | None]
    cache_ttl_s: float | None = None  # None: never cached
    subject_key: str = ""  # whose data it is (for the audit log); default: the first key field
    # whose data a released record is, when the key names a thing (a vehicle's plate) and the
    # record names its holder: a JSON pointer into the record (/owner/id), for the audit log
    subject_in_record: str = ""
    description: str = ""

    @property
    def personal(self) -> bool:
        return self.personal_data is not PersonalData.NONE

    @property
    def cacheable(self) -> bool:
        return self.cache_ttl_s is not None and self.personal_data is not PersonalData.SENSITIVE

    def subject_of(self, key: Mapping[str, str], record: Mapping[str, Any] | None = None) -> str:
        """Whose data it is: the record's holder (``subject_in_record``) when the record is known
        and names one, else the key field (``subject_key``, default the first)."""
        if record is not None and self.subject_in_record:
            found = resolve(record, self.subject_in_record)
            if len(found) == 1 and isinstance(found[0], str) and found[0]:
                return found[0]
        return key.get(self.subject_key or self.key[0], "")


@dataclass(frozen=True, slots=True)
class Need:
    """One dataset a procedure needs. ``key`` maps each of the dataset's key fields to a JSON
    pointer into the dossier (or a literal); ``document`` is what the applicant must provide
    instead when the bus cannot get it (the component of the procedure's dossier)."""

    dataset: str
    key: Mapping[str, str]
    document: str


@dataclass(frozen=True, slots=True)
class Procedure:
    code: str  # MaTTHC, e.g. 1.002861
    name: str
    purpose: str  # the purpose the collected data is requested for
    needs: tuple[Need, ...]
    description: str = ""


@dataclass(frozen=True, slots=True)
class Catalogue:
    datasets: Mapping[str, Dataset] = field(default_factory=dict)
    procedures: Mapping[str, Procedure] = field(default_factory=dict)

    @classmethod
    def of(cls, datasets: Iterable[Dataset], procedures: Iterable[Procedure]) -> Catalogue:
        return cls({d.name: d for d in datasets}, {p.code: p for p in procedures})


class MissingKey(Exception):
    """The dossier does not carry an identifier the need is keyed by."""

    def __init__(self, pointer: str) -> None:
        super().__init__(f"the dossier has nothing at {pointer}")
        self.pointer = pointer


def unclassed_personal_fields(
    catalogue: Catalogue, personal_paths: Callable[[str], Sequence[str]]
) -> list[str]:
    """The datasets classed ``none`` whose purposes release a person's identifier (where
    ``personal_paths`` says a dataset's record holds one): such a release would be neither audited
    nor shown in that person's access report."""
    problems = []
    for dataset in catalogue.datasets.values():
        if dataset.personal:
            continue
        paths = personal_paths(dataset.name)
        for purpose, fields in dataset.fields.items():
            released = [p for p in paths if fields is None or any(_covers(f, p) for f in fields)]
            if released:
                problems.append(
                    f"dataset {dataset.name}: it is classed personal_data: none, but purpose {purpose} "
                    f"releases {', '.join(released)} (a person's identifier): class it personal, or "
                    "leave those out of the purpose's fields"
                )
    return problems


def _covers(field: str, path: str) -> bool:
    """Whether releasing ``field`` (a name or a pointer) releases what is at ``path``."""
    released, at = field_tokens(field), field_tokens(path)
    return len(released) <= len(at) and all(a == b for a, b in zip(released, at, strict=False))


def resolve(data: Any, pointer: str) -> list[Any]:
    """Every value at ``pointer`` in ``data``; a ``*`` token stands for each item of an array."""
    nodes = [data]
    for part in field_tokens(pointer):
        following: list[Any] = []
        for node in nodes:
            if part == "*" and isinstance(node, list):
                following.extend(node)
            elif isinstance(node, dict) and part in node:
                following.append(node[part])
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                following.append(node[int(part)])
        nodes = following
    return nodes


def keys_for(need: Need, dossier: Mapping[str, Any]) -> list[dict[str, str]]:
    """The requests a need makes for a dossier: one per combination of the values its pointers
    find (a ``*`` pointer gives one per item). Raises :class:`MissingKey` when a pointer finds no
    string: the applicant did not say, so the document must be asked for."""
    choices: list[list[tuple[str, str]]] = []
    for name, source in need.key.items():
        if not source.startswith("/"):
            choices.append([(name, source)])
            continue
        values = [v for v in resolve(dossier, source) if isinstance(v, str) and v]
        if not values:
            raise MissingKey(source)
        # the same plate listed twice is asked once
        choices.append([(name, v) for v in dict.fromkeys(values)])
    return [dict(combination) for combination in itertools.product(*choices)]
