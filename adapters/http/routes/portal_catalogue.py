"""``GET /v1/portal/catalogue/report``: the procedures read from the portal's catalogue whose
evidence needs are not configured yet (``procedures:`` in the configuration), per portal
connector, so that a province sees which of its ~2,000 procedures the broker collects nothing for.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from fastapi import APIRouter

from adapters.http.auth import Authenticated
from adapters.http.responses import AUTHENTICATED, errors


class NeedsRow(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


class CatalogueSource(Protocol):
    """What the portal connector offers (connectors.portal.connector.PortalConnector)."""

    @property
    def name(self) -> str: ...

    async def needs_report(self) -> NeedsRow: ...


def portal_catalogue_router(sources: Sequence[CatalogueSource]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get(
        "/v1/portal/catalogue/report",
        summary="Procedures imported from the portal whose evidence needs are not configured",
        responses=errors(*AUTHENTICATED),
    )
    async def report(caller: Authenticated) -> dict[str, Any]:
        del caller  # the catalogue is public: any authenticated system may read the report
        return {
            "portal": [
                {"connector": source.name, **(await source.needs_report()).as_dict()} for source in sources
            ]
        }

    return router
