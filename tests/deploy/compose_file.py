"""deploy/compose.yaml as data: the document (YAML merge keys resolved) and its services' mounts."""

from __future__ import annotations

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
