"""``GET /v1/stats``: the operators' figures (the ministry's scorecard) per agency, and how far
behind the National Public Service Portal is.

Who sees what: an operator (``admin`` in the policy) sees every agency; any other authenticated
system sees its own member's agency only (a province's one-stop system sees its own figures, not
its neighbours'). ``?agency=`` narrows the list.

Each portal connector's ``scorecard`` holds the 766 figures (:mod:`router.scorecard`) of the
dossiers the bus sent the portal: ``?period=month|quarter`` groups them (default month);
``?from=`` and ``?to=`` bound them (a date ``2024-05-01``, the day's start in Asia/Ho_Chi_Minh,
or a date-time with its offset; ``to`` is exclusive; default: from the start of the current
year); ``?procedure=`` keeps one procedure (MaTTHC); ``?agency=`` one agency.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Query

from adapters.http.auth import Authenticated
from adapters.http.responses import AUTHENTICATED, PARAMETERS, errors
from router.errors import FieldError, InvalidRequest
from router.scorecard import PORTAL_TZ
from router.scorecard import Query as ScorecardQuery


class FiguresRow(Protocol):
    @property
    def agency(self) -> str: ...

    def as_dict(self) -> dict[str, Any]: ...


class StatsSource(Protocol):
    """What the portal connector offers (connectors.portal.connector.PortalConnector)."""

    @property
    def name(self) -> str: ...

    async def figures(self, agencies: Sequence[str] | None = None) -> Sequence[FiguresRow]: ...

    async def unsynced(self) -> Mapping[str, float]:
        """Dossier -> since when the portal has been behind, from the sync state every process
        shares (the same answer from each)."""
        ...

    async def scorecard(self, query: ScorecardQuery) -> Mapping[str, Any]: ...


# the earliest and latest instants the scorecard reads: any time zone can hold them
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9998, 12, 31, tzinfo=UTC)
_DATE_OR_DATE_TIME: dict[str, Any] = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]
}


def instant_of(value: str | None, name: str) -> datetime | None:
    """``from``/``to``: a date (the day's start in the portal's time zone) or a date-time with an
    offset; an instant before 1970 or after 9998 stands for the first or the last."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            if not 1970 <= day.year <= 9998:
                return EARLIEST if day.year < 1970 else LATEST
            return datetime(day.year, day.month, day.day, tzinfo=PORTAL_TZ)
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(name, "is neither a date (2024-05-01) nor a date-time") from None
    if instant.tzinfo is None:
        raise _invalid(name, "has no offset, e.g. 2024-05-01T00:00:00+07:00")
    if not 1970 <= instant.year <= 9998:
        return EARLIEST if instant.year < 1970 else LATEST
    return instant


def _invalid(name: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"{name} {what}", (FieldError(f"/query/{name}", what),))


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
        period: Annotated[
            Literal["month", "quarter"], Query(description="the scorecard's periods")
        ] = "month",
        start: Annotated[
            str | None,
            Query(
                alias="from",
                max_length=40,
                description="from this date or date-time (inclusive)",
                json_schema_extra=_DATE_OR_DATE_TIME,
            ),
        ] = None,
        end: Annotated[
            str | None,
            Query(
                alias="to",
                max_length=40,
                description="to this date or date-time (exclusive; not after from: nothing is selected)",
                json_schema_extra=_DATE_OR_DATE_TIME,
            ),
        ] = None,
        procedure: Annotated[
            str | None, Query(max_length=64, description="only this procedure (MaTTHC)")
        ] = None,
    ) -> dict[str, Any]:
        admin = is_admin(caller.id)
        agencies: list[str] | None = None if admin else [caller.member]
        if agency is not None:
            agencies = [agency] if agencies is None or agency in agencies else []
        now = time.time()
        first = instant_of(start, "from")
        if first is None:
            first = datetime(datetime.fromtimestamp(now, PORTAL_TZ).year, 1, 1, tzinfo=PORTAL_TZ)
        last = instant_of(end, "to")
        # the scorecard of one agency: the one asked for, or the caller's own ("" matches none)
        scoped = agency if admin else (caller.member if agencies else "")
        query = ScorecardQuery(period=period, start=first, end=last, procedure=procedure, agency=scoped)
        portals = []
        for source in sources:
            rows = await source.figures(agencies)
            pending = await source.unsynced()
            visible = {row.agency for row in rows}
            backlog = [since for code, since in pending.items() if admin or code.split("-", 1)[0] in visible]
            portals.append(
                {
                    "connector": source.name,
                    "unsynced_dossiers": len(backlog),
                    "oldest_unsynced_seconds": round(now - min(backlog), 3) if backlog else 0.0,
                    "agencies": [row.as_dict() for row in rows],
                    "scorecard": await source.scorecard(query),
                }
            )
        return {"generated_at": now, "scope": "all" if admin else caller.member, "portal": portals}

    return router
