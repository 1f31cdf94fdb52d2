"""deploy/compose.yaml as data: the document (YAML merge keys resolved), its services' mounts,
environment and env files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.deploy.conftest import DEPLOY

COMPOSE = DEPLOY / "compose.yaml"


def load() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """source -> target of a service's volumes in the short syntax (``src:dst[:mode]``)."""
    out = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        out[source] = target
    return out


def environment(service: dict[str, Any]) -> dict[str, str]:
    """The variables a service's ``environment`` sets (in the compose file itself)."""
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def env_file_paths(service: dict[str, Any]) -> list[Path]:
    """The files of a service's ``env_file`` (relative to the compose file's folder)."""
    given = service.get("env_file", [])
    return [DEPLOY / path for path in ([given] if isinstance(given, str) else given)]


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines as compose reads them: blank lines and ``#`` comments left out, the
    value taken as written (these files quote nothing)."""
    out = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            key, separator, value = line.partition("=")
            assert separator, f"{path}: not KEY=VALUE: {line}"
            out[key.strip()] = value
    return out


def container_environment(service: dict[str, Any]) -> dict[str, str]:
    """What the container's environment holds: its env files, then ``environment`` over them."""
    out: dict[str, str] = {}
    for path in env_file_paths(service):
        out.update(read_env_file(path))
    return {**out, **environment(service)}


def secret_file(document: dict[str, Any], name: str) -> Path:
    """The file of a top-level secret."""
    file: str = document["secrets"][name]["file"]
    return DEPLOY / file
