"""One list of connector kinds: the ``ConnectorKind`` type, the builders, the config schema's enum
and the table in docs/configuration.md name the same kinds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from connectors.base import ConnectorKind
from connectors.kinds import BUILDERS, builder
from lienthong.config import config_schema
from router.errors import ConfigError

DOCS = Path(__file__).parents[3] / "docs" / "configuration.md"


def documented_kinds() -> list[str]:
    """The first column of the table under "### Connector kinds"."""
    section = DOCS.read_text(encoding="utf-8").split("### Connector kinds", 1)[1]
    return re.findall(r"^\| `([a-z_]+)` \|", section.split("\n#", 1)[0], flags=re.MULTILINE)


def test_the_builders_are_the_kinds() -> None:
    assert list(BUILDERS) == list(get_args(ConnectorKind))


def test_the_config_schema_accepts_the_kinds() -> None:
    kind = config_schema()["$defs"]["connector"]["properties"]["kind"]
    assert kind["enum"] == list(get_args(ConnectorKind))


def test_the_docs_list_the_kinds() -> None:
    assert documented_kinds() == list(get_args(ConnectorKind))


def test_an_unknown_kind_names_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match="no connector kind 'fax'; known: citizen_store, portal, rest, soap"
    ):
        builder("fax")
