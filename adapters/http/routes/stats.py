"""``GET /v1/stats``: the operators' figures (the ministry's scorecard) per agency, and how far
behind the National Public Service Portal is.

Who sees what: an operator (``admin`` in the policy) sees every agency; any other authenticated
system sees its own member's agency only (a province's one-stop system sees its own figures, not
its neighbours'). ``?agency=`` narrows the list.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Query

from adapters.http.auth import Authenticated
from adapters.http.responses import AUTHENTICATED, PARAMETERS, errors


class FiguresRow(Protocol):
    @property
    def agency(self) -> str: ...

    def as_dict(self) -> dict[str, Any]: ...


class StatsSource(Protocol):
    """What the portal connector offers (connectors.portal.connector.PortalConnector)."""

    @property
    def name(self) -> str: ...

    async def figures(self, agencies: Sequence[str] | None = None) -> Sequence[FiguresRow]: ...

    def unsynced(self) -> Mapping[str, float]: ...


def stats_router(sources: Sequence[StatsSource], is_admin: Callable[[str], bool]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get(
        "/v1/stats",
        summary="Operators' figures per agency and the portal sync's backlog",
        responses=errors(*AUTHENTICATED, *PARAMETERS),
    )
    async def stats(
        caller: Authenticated,
        agency: Annotated[str | None, Query(max_length=64, description="only this agency")] = None,
    ) -> dict[str, Any]:
        admin = is_admin(caller.id)
        agencies: list[str] | None = None if admin else [caller.member]
        if agency is not None:
            agencies = [agency] if agencies is None or agency in agencies else []
        now = time.time()
        portals = []
        for source in sources:
            rows = await source.figures(agencies)
            pending = source.unsynced()
            visible = {row.agency for row in rows}
            backlog = [since for code, since in pending.items() if admin or code.split("-", 1)[0] in visible]
            portals.append(
                {
                    "connector": source.name,
                    "unsynced_dossiers": len(backlog),
                    "oldest_unsynced_seconds": round(now - min(backlog), 3) if backlog else 0.0,
                    "agencies": [row.as_dict() for row in rows],
                }
            )
        return {"generated_at": now, "scope": "all" if admin else caller.member, "portal": portals}

    return router
