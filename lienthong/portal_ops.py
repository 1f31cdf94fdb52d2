"""The operators' portal operations over the running configuration: a held dossier's release and
the list of unusual status moves, for the API (adapters/http/routes/portal.py) and the console."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connectors.portal import release as releasing
from connectors.portal.connector import PortalConnector
from lienthong.runtime import Runtime
from router.directory import System
from router.errors import FieldError, InvalidRequest, NotFound

# the errors a release answers besides those of every admin route (documented in the API)
RELEASE_ERRORS = (releasing.DossierUnknown, releasing.DossierNotHeld, releasing.DossierNotReleasable)


def portals(runtime: Runtime) -> list[PortalConnector]:
    """The portal connectors of the running configuration."""
    return [c for c in runtime.connectors.values() if isinstance(c, PortalConnector)]


class PortalOperations:
    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    def connector(self, name: str | None) -> PortalConnector:
        """The portal connector named, or the only one; NotFound or InvalidRequest otherwise."""
        found = portals(self._runtime)
        if name is not None:
            for connector in found:
                if connector.name == name:
                    return connector
            raise NotFound(f"no portal connector {name[:200]!r}")
        if not found:
            raise NotFound("no portal connector is configured")
        if len(found) > 1:
            names = ", ".join(c.name for c in found)
            raise InvalidRequest(
                "name the portal connector", (FieldError("/query/connector", f"one of {names}"),)
            )
        return found[0]

    async def release(
        self,
        caller: System,
        dossier: str,
        reason: str,
        *,
        official: str,
        official_basis: str,
        connector: str | None,
    ) -> Mapping[str, Any]:
        done = await releasing.release(
            self._runtime.bus,
            caller,
            self.connector(connector),
            dossier,
            reason,
            official=official,
            official_basis=official_basis,
        )
        return done.as_dict()

    async def unusual_moves(
        self, caller: System, *, after: int, limit: int, dossier: str | None, connector: str | None
    ) -> tuple[str, Sequence[Mapping[str, Any]]]:
        portal = self.connector(connector)
        moves = await portal.sync.store.unusual_moves(after=after, limit=limit, dossier=dossier)
        return portal.name, [move.as_dict() for move in moves]
