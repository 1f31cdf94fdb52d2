"""Requests built from the query: a template is the configuration's value with ``{name}``
placeholders, filled from what the bus knows of the lookup.

The names a placeholder may use (checked when the configuration is loaded):

- ``subject.<key>``: an identifier of the subject, by the dataset's key name (``subject.personal_id``);
- ``procedure``: the procedure's code (MaTTHC); ``dossier``: the dossier's code;
- ``official``: who, in the requesting system, asks; ``requester``: the requesting system;
- ``request_id``: the lookup's id, also in the audit record.

A string that is exactly one placeholder takes the value; any other string is text with the
values put in (``{{`` and ``}}`` write a brace). Numbers, booleans and strings without a
placeholder are fixed values; mappings and lists are built item by item (nested elements of a
SOAP request, a JSON body).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.generic.problems import SpecPath, SpecProblem
from router.providers import DataRequest

CONTEXT_NAMES = ("procedure", "dossier", "official", "requester", "request_id")
SUBJECT = "subject."
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_KEY_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def values_of(request: DataRequest) -> dict[str, str]:
    """The values a template may use, for one lookup."""
    context = request.context
    values = {
        "procedure": context.procedure,
        "dossier": context.dossier,
        "official": context.official,
        "requester": context.requester,
        "request_id": context.request_id,
    }
    values.update({f"{SUBJECT}{name}": value for name, value in request.key.items()})
    return values


@dataclass(frozen=True, slots=True)
class Text:
    """A string template: literal parts and placeholder names, alternating (literal first)."""

    parts: tuple[str, ...]

    def fill(self, values: Mapping[str, str]) -> str:
        return "".join(values.get(part, "") if i % 2 else part for i, part in enumerate(self.parts))

    @property
    def names(self) -> tuple[str, ...]:
        return self.parts[1::2]


Template = Any  # Text, a fixed scalar, or a dict / list of templates


def fill(template: Template, values: Mapping[str, str]) -> Any:
    """The request value of ``template`` for one lookup."""
    if isinstance(template, Text):
        return template.fill(values)
    if isinstance(template, dict):
        return {name: fill(item, values) for name, item in template.items()}
    if isinstance(template, list):
        return [fill(item, values) for item in template]
    return template


def names_used(template: Template) -> set[str]:
    if isinstance(template, Text):
        return set(template.names)
    if isinstance(template, dict):
        return set().union(*(names_used(t) for t in template.values())) if template else set()
    if isinstance(template, list):
        return set().union(*(names_used(t) for t in template)) if template else set()
    return set()


def compile_template(
    raw: Any, path: SpecPath, keys: tuple[str, ...] | None, problems: list[SpecProblem]
) -> Template:
    """The template of a configuration value; ``keys`` the dataset's key names when known (a
    placeholder naming another is a problem)."""
    if isinstance(raw, str):
        return _text(raw, path, keys, problems)
    if isinstance(raw, Mapping):
        return {
            str(name): compile_template(item, (*path, str(name)), keys, problems)
            for name, item in raw.items()
        }
    if isinstance(raw, list):
        return [compile_template(item, (*path, i), keys, problems) for i, item in enumerate(raw)]
    if raw is None or isinstance(raw, bool | int | float):
        return raw
    problems.append(
        SpecProblem(
            path, "this value cannot be sent", "write text, a number, true/false, a mapping or a list"
        )
    )
    return None


def _text(raw: str, path: SpecPath, keys: tuple[str, ...] | None, problems: list[SpecProblem]) -> Any:
    parts: list[str] = [""]
    position = 0
    for match in _PLACEHOLDER.finditer(raw):
        parts[-1] += raw[position : match.start()]
        position = match.end()
        token = match.group(0)
        if token in ("{{", "}}"):
            parts[-1] += token[0]
            continue
        name = match.group(1)
        if name is None:
            problems.append(
                SpecProblem(
                    path,
                    f"a lone '{token}' in {raw[:80]!r}",
                    "write {{ or }} for a brace, {name} for a value",
                )
            )
            continue
        name = name.strip()
        if not _known(name, keys):
            problems.append(
                SpecProblem(
                    path,
                    f"no value called '{name[:64]}'",
                    "use " + ", ".join(f"{{{n}}}" for n in _choices(keys)),
                )
            )
        parts.extend([name, ""])
    parts[-1] += raw[position:]
    if len(parts) == 1:
        return parts[0]  # no placeholder: a fixed value
    return Text(tuple(parts))


def _known(name: str, keys: tuple[str, ...] | None) -> bool:
    if name in CONTEXT_NAMES:
        return True
    if not name.startswith(SUBJECT):
        return False
    key = name.removeprefix(SUBJECT)
    return key in keys if keys is not None else _KEY_NAME.fullmatch(key) is not None


def _choices(keys: tuple[str, ...] | None) -> list[str]:
    subject = [f"{SUBJECT}{k}" for k in keys] if keys else [f"{SUBJECT}<key>"]
    return [*subject, *CONTEXT_NAMES]
