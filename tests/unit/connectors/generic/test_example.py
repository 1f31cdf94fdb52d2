"""examples/configured-datasets.yaml is a working configuration: it loads, and each of its
connectors builds with the datasets its catalogue names."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from connectors.base import ConnectorDeps
from lienthong.config import load_settings
from lienthong.connectors import build_connectors
from tests.support.paths import EXAMPLES

EXAMPLE = EXAMPLES / "configured-datasets.yaml"


async def test_the_example_loads_and_builds(tmp_path: Path) -> None:
    settings = load_settings(EXAMPLE)
    connectors = build_connectors(settings, ConnectorDeps(CollectorRegistry(), tmp_path))
    try:
        for dataset in settings.catalogue.datasets.values():
            provider = connectors[dataset.provider].provider()
            assert provider is not None and dataset.name in provider.datasets
        assert {c.kind for c in settings.connectors} == {"soap", "rest"}
    finally:
        for connector in connectors.values():
            await connector.aclose()
