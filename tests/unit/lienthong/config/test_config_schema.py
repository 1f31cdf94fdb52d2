"""The configuration's JSON Schema: valid 2020-12, documented, and in step with the code."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from lienthong.config import config_schema
from router.directory import KEY_HASH, SYSTEM_ID
from router.filters import ATTRIBUTE_NAME
from router.policy import EVENT_TYPE, MEMBER_WILDCARD, TYPE_PATTERN


def test_the_schema_is_valid_draft_2020_12() -> None:
    schema = config_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def _properties(node: Any, where: str = "#") -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for name, value in node.get("properties", {}).items():
            yield f"{where}/properties/{name}", value
        for key, value in node.items():
            yield from _properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _properties(value, f"{where}/{index}")


def test_every_property_has_a_description() -> None:
    schema = config_schema()
    missing = [where for where, prop in _properties(schema) if "description" not in prop]
    assert not missing
    assert all("description" in definition for definition in schema["$defs"].values())


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(config_schema()["$defs"][name]["pattern"])


SAMPLES = [
    "000.00.00.H49/motcua",
    "000.00.00.H49/*",
    "000.00.00.H49/kho-du-lieu",
    "000.00.00.H49/-x",
    "000.00.00.H49/x-",
    "000.00.00.h49/motcua",
    "000.00.00.H49/Motcua",
    "000.00.00.H49",
    "H49/a",
    "000..00.H49/a",
    "000.00.00.H49/a/b",
    "dossier.submitted",
    "dossier.*",
    "dossier*",
    "*",
    "a..b",
    "sha256:" + "0" * 64,
    "sha256:" + "A" * 64,
    "subject",
    "Subject",
    "correlationid",
]


@pytest.mark.parametrize(
    ("definition", "code"),
    [
        ("systemId", SYSTEM_ID),
        ("eventType", EVENT_TYPE),
        ("typePattern", TYPE_PATTERN),
    ],
)
def test_schema_and_code_agree_on_names(definition: str, code: re.Pattern[str]) -> None:
    schema = _pattern(definition)
    for sample in SAMPLES:
        assert bool(schema.match(sample)) == bool(code.match(sample)), (definition, sample)


def test_schema_and_code_agree_on_selectors_hashes_and_attributes() -> None:
    selector = _pattern("systemSelector")
    for sample in SAMPLES:
        in_code = bool(SYSTEM_ID.match(sample) or MEMBER_WILDCARD.match(sample))
        assert bool(selector.match(sample)) == in_code, sample
    api_key = re.compile(config_schema()["$defs"]["system"]["properties"]["api_keys"]["items"]["pattern"])
    attribute = re.compile(config_schema()["$defs"]["attributeMatch"]["propertyNames"]["pattern"])
    for sample in SAMPLES:
        assert bool(api_key.match(sample)) == bool(KEY_HASH.match(sample)), sample
        assert bool(attribute.match(sample)) == bool(ATTRIBUTE_NAME.match(sample)), sample
