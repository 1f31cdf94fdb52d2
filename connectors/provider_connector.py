"""A connector that only provides datasets (the registries: population, business, vehicle), and
the checks of the options they share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.errors import ConfigError
from router.providers import DataProvider
from router.sinks import Sink
from router.subscriptions import SinkSpec
from schemas.formats import is_agency_code


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


def check_options(options: Mapping[str, Any], known: Mapping[str, str]) -> None:
    """Unknown options are mistakes; ``known`` maps each option to what it is, for the message."""
    unknown = sorted(set(options) - set(known))
    if unknown:
        listed = "; ".join(f"{name}: {what}" for name, what in known.items()) or "none"
        raise ConfigError(f"unknown option(s) {', '.join(unknown)}; this kind takes {listed}")


def agency_code(options: Mapping[str, Any]) -> str:
    """The bus's own agency code as the registry knows it (sent as MaDonVi with every lookup)."""
    code = options.get("agency_code")
    if not isinstance(code, str) or not is_agency_code(code):
        raise ConfigError(
            "options.agency_code: the bus's own agency code is required (sent as MaDonVi), "
            "e.g. agency_code: 000.00.00.H49"
        )
    return code
