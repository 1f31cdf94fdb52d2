"""A configuration file read for the bus: its settings and the contracts (schemas) they name,
checked against each other. Start-up, a reload and the CLI all read the file through :func:`load`."""

from __future__ import annotations

from pathlib import Path

from lienthong.config import Settings, load_settings
from schemas.registry import SchemaRegistry


def load(config: Path) -> tuple[Settings, SchemaRegistry]:
    """The settings of a file and the contracts they name, checked against each other: a
    subscription or policy naming an unregistered type is an error with its line number."""
    settings = load_settings(config)
    registry = SchemaRegistry.load(settings.schemas.path, settings.schemas.compatibility)
    return load_settings(config, {info.name for info in registry.types()}), registry
