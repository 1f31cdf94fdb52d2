"""A configuration file read for the bus: its settings and the contracts (schemas) they name,
checked against each other. Start-up, a reload and the CLI all read the file through :func:`load`."""

from __future__ import annotations

from pathlib import Path

from lienthong.config import Settings, load_settings
from router.errors import ConfigError
from router.evidence.catalogue import unclassed_personal_fields
from schemas.dataset_schemas import shipped
from schemas.registry import SchemaRegistry


def load(config: Path) -> tuple[Settings, SchemaRegistry]:
    """The settings of a file and the contracts they name, checked against each other: a
    subscription or policy naming an unregistered type is an error with its line number, and so
    is a dataset classed ``personal_data: none`` that releases a person's identifier, and a
    subscription that would receive personal data released to another system."""
    settings = load_settings(config)
    problems = unclassed_personal_fields(settings.catalogue, shipped().personal_paths)
    if problems:
        raise ConfigError("\n".join(f"{settings.source}: {problem}" for problem in problems))
    registry = SchemaRegistry.load(settings.schemas.path, settings.schemas.compatibility)
    event_types = {info.name for info in registry.types()}
    return load_settings(config, event_types, registry.released_types()), registry
