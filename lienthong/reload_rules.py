"""What a configuration reload may change, and what changed.

A reload (SIGHUP or ``POST /v1/admin/reload``, run by :meth:`lienthong.runtime.Runtime.reload`)
first checks the new file completely: the loader's checks (schema, meaning, contracts), the
connectors and sinks it builds, the fields only a restart can change (:func:`restart_problems`)
and the contracts already published (:func:`contract_problems`). Any problem refuses the whole
reload (:class:`ConfigInvalid`, 422) and the running configuration stays as it was.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.kafka.options import KafkaOptions
from lienthong.config.problems import Problem, config_error
from lienthong.config.settings import CheckpointSettings, PostgresSettings, Settings
from lienthong.config.source import SourceProblems, read_document
from router.errors import ConfigError, LienthongError
from schemas.registry import SchemaRegistry

# Settings fixed for the life of a process, by section: dataclass field -> key in the file.
# The transport's log and consumers, the listening socket and the audit store are opened once.
RESTART_ONLY: Mapping[str, Mapping[str, str]] = {
    "transport": {
        "kind": "kind",
        "path": "path",
        "partitions": "partitions",
        "retention_s": "retention",
        "durability": "durability",
        "kafka": "kafka",
    },
    "http": {
        "host": "host",
        "port": "port",
        "max_body_bytes": "max_body",
        "max_batch_events": "max_batch",
        "max_head_bytes": "max_head",
        "max_headers": "max_headers",
        "trusted_proxies": "trusted_proxies",
        "metrics_listen": "metrics_listen",
    },
    "state": {"postgres": "postgres"},
    "audit": {
        "path": "path",
        "subject_key_env": "subject_key_env",
        "chain_key_env": "chain_key_env",
        "retired_chain_keys_env": "retired_chain_keys_env",
        "checkpoints": "checkpoints",
    },
}

# One line of a ConfigError: "<file>:<line>:<col>: <pointer>: <what>. Fix: <fix>."
_LINE = re.compile(
    r"^(?P<file>.+?):(?P<line>\d+):(?P<column>\d+): (?P<pointer>\S*): (?P<message>.*?)(?:\. Fix: (?P<fix>.*?)\.?)?$"
)


class ConfigInvalid(LienthongError):
    """The new configuration was refused; the running one is unchanged. ``problems`` lists each
    problem as ``lienthong config check`` prints it, split into file, line, pointer and fix."""

    code = "config_invalid"
    status = 422
    title = "The configuration is not valid; nothing was changed"

    def __init__(self, detail: str, problems: tuple[dict[str, Any], ...]) -> None:
        super().__init__(detail)
        self.problems = problems

    @classmethod
    def of(cls, error: ConfigError) -> ConfigInvalid:
        lines = [line for line in error.detail.splitlines() if line.strip()]
        header = lines[0] if lines and lines[0].endswith(":") and len(lines) > 1 else None
        problems = tuple(_problem(line) for line in (lines[1:] if header else lines))
        return cls(error.detail, problems)


def _problem(line: str) -> dict[str, Any]:
    found = _LINE.match(line.strip())
    if found is None:
        return {"detail": line.strip()}
    return {
        "file": found["file"],
        "line": int(found["line"]),
        "column": int(found["column"]),
        "pointer": found["pointer"] if found["pointer"] != "/" else "",
        "detail": found["message"],
        "fix": found["fix"] or "",
        "text": line.strip(),
    }


def digest(path: Path) -> str:
    """The SHA-256 of the file's bytes, as audited with a reload."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def restart_problems(old: Settings, new: Settings) -> list[Problem]:
    """The fields changed in ``new`` that only a restart can change, each located in the file."""
    problems = []
    for section, fields in RESTART_ONLY.items():
        before, after = getattr(old, section), getattr(new, section)
        for name, key in fields.items():
            if getattr(before, name) != getattr(after, name):
                problems.append(
                    Problem(
                        (section, key),
                        f"{section}.{key} cannot change while the bus runs "
                        f"(running: {_shown(getattr(before, name))})",
                        f"restart to change {section}.{key}, or put back the running value",
                    )
                )
    if old.tracing != new.tracing:
        # the exporter and its thread are set up once, with the tracer the parts hold
        problems.append(
            Problem(
                ("tracing",) if new.tracing is not None else (),
                "tracing cannot change while the bus runs "
                f"(running: {'off' if old.tracing is None else old.tracing.otlp_endpoint})",
                "restart to change tracing, or put back the running section",
            )
        )
    return problems


def _shown(value: Any) -> str:
    if isinstance(value, KafkaOptions):  # it carries credentials: say that it differs, not how
        return "the kafka settings loaded at start"
    if isinstance(value, CheckpointSettings):  # a witness's headers may carry credentials
        return "the checkpoint settings loaded at start"
    if isinstance(value, PostgresSettings):  # its DSN may carry a password
        return "the PostgreSQL settings loaded at start"
    return str(value) if isinstance(value, Path) else repr(value)


def contract_problems(old: SchemaRegistry, new: SchemaRegistry) -> list[str]:
    """Published contract versions are immutable: each one of the running registry must still be
    in the new one, unchanged (new types and new versions are checked by the registry itself)."""
    problems = []
    for info in old.types():
        for version in info.versions:
            try:
                after = new.schema(info.name, version)
            except LienthongError:
                problems.append(
                    f"contract {info.name} version {version} is gone from the schemas folder: a published"
                    " version cannot be removed from a running bus. Fix: put it back (restart to retire it)."
                )
                continue
            if after != old.schema(info.name, version):
                problems.append(
                    f"contract {info.name} version {version} was changed: a published version is"
                    f" immutable. Fix: add the change as version {info.latest + 1}."
                )
    return problems


def refuse(source: Path, problems: Iterable[Problem], lines: Iterable[str] = ()) -> ConfigInvalid:
    """One ConfigInvalid for problems located in the file and plain lines (the contracts')."""
    located = list(problems)
    body: list[str] = []
    if located:
        try:
            document = read_document(source)
        except SourceProblems:  # it was read a moment ago; a file replaced since is located at 1:1
            error = config_error(source, located, lambda p: (1, 1))
        else:
            error = config_error(source, located, lambda p: document.position(p.path, p.at_key))
        body = error.detail.splitlines()[1:]  # its lines without its header
    body.extend(lines)
    count = len(body)
    header = f"{source}: invalid configuration, {count} problem{'s' if count != 1 else ''}:"
    return ConfigInvalid.of(ConfigError("\n".join([header, *body])))


@dataclass(frozen=True, slots=True)
class Changes:
    """What a reload changed, by kind of thing, as names."""

    subscriptions_added: tuple[str, ...] = ()
    subscriptions_removed: tuple[str, ...] = ()
    subscriptions_changed: tuple[str, ...] = ()
    systems_added: tuple[str, ...] = ()
    systems_removed: tuple[str, ...] = ()
    systems_changed: tuple[str, ...] = ()  # keys, roles or names
    policies_changed: bool = False
    connectors_added: tuple[str, ...] = ()
    connectors_removed: tuple[str, ...] = ()
    connectors_changed: tuple[str, ...] = ()
    datasets_changed: bool = False
    procedures_changed: bool = False
    limits_changed: bool = False  # the limits per caller (``limits:``)
    types_added: tuple[str, ...] = ()  # "<type> v<version>"

    @property
    def nothing(self) -> bool:
        return not any(
            (
                self.subscriptions_added,
                self.subscriptions_removed,
                self.subscriptions_changed,
                self.systems_added,
                self.systems_removed,
                self.systems_changed,
                self.policies_changed,
                self.connectors_added,
                self.connectors_removed,
                self.connectors_changed,
                self.datasets_changed,
                self.procedures_changed,
                self.limits_changed,
                self.types_added,
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "subscriptions": {
                "added": list(self.subscriptions_added),
                "removed": list(self.subscriptions_removed),
                "changed": list(self.subscriptions_changed),
            },
            "systems": {
                "added": list(self.systems_added),
                "removed": list(self.systems_removed),
                "changed": list(self.systems_changed),
            },
            "policies_changed": self.policies_changed,
            "connectors": {
                "added": list(self.connectors_added),
                "removed": list(self.connectors_removed),
                "changed": list(self.connectors_changed),
            },
            "datasets_changed": self.datasets_changed,
            "procedures_changed": self.procedures_changed,
            "limits_changed": self.limits_changed,
            "types_added": list(self.types_added),
        }

    def summary(self) -> str:
        """One line for the log and the audit record."""
        if self.nothing:
            return "no change"
        parts = []
        for label, names in (
            ("subscriptions added", self.subscriptions_added),
            ("removed", self.subscriptions_removed),
            ("changed", self.subscriptions_changed),
            ("systems added", self.systems_added),
            ("systems removed", self.systems_removed),
            ("systems changed", self.systems_changed),
            ("connectors added", self.connectors_added),
            ("connectors removed", self.connectors_removed),
            ("connectors changed", self.connectors_changed),
            ("types added", self.types_added),
        ):
            if names:
                parts.append(f"{label}: {', '.join(names)}")
        for label, flag in (
            ("policies", self.policies_changed),
            ("datasets", self.datasets_changed),
            ("procedures", self.procedures_changed),
            ("limits", self.limits_changed),
        ):
            if flag:
                parts.append(f"{label} changed")
        return "; ".join(parts)


def _names_diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[tuple[str, ...], ...]:
    added = tuple(sorted(set(new) - set(old)))
    removed = tuple(sorted(set(old) - set(new)))
    changed = tuple(sorted(n for n in set(old) & set(new) if old[n] != new[n]))
    return added, removed, changed


def changes(
    old: Settings, new: Settings, old_registry: SchemaRegistry, new_registry: SchemaRegistry
) -> Changes:
    """What differs between the running settings and the new ones. A subscription delivering to
    a changed connector counts as changed: its sink is rebuilt."""
    connectors = _names_diff({c.name: c for c in old.connectors}, {c.name: c for c in new.connectors})
    rebuilt = set(connectors[2])
    old_subscriptions = {s.name: s for s in old.subscriptions}
    new_subscriptions = {s.name: s for s in new.subscriptions}
    added, removed, changed = _names_diff(old_subscriptions, new_subscriptions)
    via_connector = {
        name
        for name, s in new_subscriptions.items()
        if name in old_subscriptions and s.sink.kind == "connector" and s.sink.options.get("name") in rebuilt
    }
    systems = _names_diff({s.id: s for s in old.systems}, {s.id: s for s in new.systems})
    known = {(t.name, v) for t in old_registry.types() for v in t.versions}
    types_added = tuple(
        f"{t.name} v{v}" for t in new_registry.types() for v in t.versions if (t.name, v) not in known
    )
    return Changes(
        subscriptions_added=added,
        subscriptions_removed=removed,
        subscriptions_changed=tuple(sorted(set(changed) | via_connector)),
        systems_added=systems[0],
        systems_removed=systems[1],
        systems_changed=systems[2],
        policies_changed=old.policy.rules != new.policy.rules,
        connectors_added=connectors[0],
        connectors_removed=connectors[1],
        connectors_changed=connectors[2],
        datasets_changed=old.catalogue.datasets != new.catalogue.datasets,
        procedures_changed=old.catalogue.procedures != new.catalogue.procedures,
        limits_changed=old.limits != new.limits,
        types_added=types_added,
    )
