"""The official AsyncAPI 3.0.0 JSON Schema (vendored under tests/data/asyncapi), loaded offline."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

SCHEMA = Path(__file__).parent.parent / "data" / "asyncapi" / "3.0.0.json"


def _offline(uri: str) -> Resource[Any]:
    raise LookupError(f"{uri} is not in the vendored AsyncAPI schema: tests do not fetch schemas")


@functools.cache
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    resource = Resource.from_contents(schema, default_specification=DRAFT7)
    # the bundle embeds every definition with its $id; crawling registers them all
    # Registry is an attrs class whose ``retrieve`` is an alias of a private field: mypy's attrs
    # plugin sees only the private name
    registry: Registry[Any] = Registry(retrieve=_offline)  # type: ignore[call-arg]
    registry = registry.with_resource(schema["$id"], resource).crawl()
    return jsonschema.Draft7Validator(schema, registry=registry)


def errors(document: Any) -> list[str]:
    """What is wrong with an AsyncAPI 3.0 document (empty when it is valid)."""
    return [
        f"/{'/'.join(str(p) for p in error.absolute_path)}: {error.message[:300]}"
        for error in validator().iter_errors(document)
    ]
