"""A connector that only provides datasets: the configured registries (``kind: soap``,
``kind: rest``, :mod:`connectors.generic`)."""

from __future__ import annotations

from router.providers import DataProvider
from router.sinks import Sink
from router.subscriptions import SinkSpec


class ProviderConnector:
    def __init__(self, provider: DataProvider) -> None:
        self._provider = provider

    @property
    def name(self) -> str:
        return self._provider.name

    def provider(self) -> DataProvider | None:
        return self._provider

    def sink(self, spec: SinkSpec) -> Sink | None:
        return None  # a registry takes no events

    async def start(self) -> None:
        pass

    async def aclose(self) -> None:
        await self._provider.aclose()
