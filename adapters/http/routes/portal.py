"""``/v1/portal/...``: the operators' handling of the National Public Service Portal sync.

- ``POST /v1/portal/dossiers/{dossier}/release``: release a held dossier (connectors.portal.release):
  the moves its waiting events make are accepted, its dead letters replayed in order. Admin grant;
  a reason (``{"reason": "..."}``) and the official acting are required, both recorded in the
  audit log.
- ``GET /v1/portal/unusual-moves``: the status moves the table does not list that the sync sent,
  oldest first, a page at a time.

The portal connector lives above this layer: the composition root gives the operations
(:class:`PortalOperations`) and the errors a release may answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from adapters.http.auth import Authenticated
from adapters.http.officials import OFFICIAL_ERRORS, Verifier, official_of_request
from adapters.http.officials import parameters as official_parameters
from adapters.http.responses import AUTHENTICATED, FASTAPI_JSON_BODY, PARAMETERS, ErrorClass, errors
from router.audit import AuditUnavailable
from router.directory import System
from router.errors import Forbidden, NotFound
from router.evidence.errors import OfficialRequired

MAX_MOVES_PAGE = 1000
ConnectorName = Annotated[
    str | None,
    Query(max_length=200, description="the portal connector (default: the configuration's only one)"),
]


class ReleaseBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    reason: str = Field(description="why the dossier is released: one line, 1 to 500 characters; audited")


class MoveReply(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: int = Field(alias="from", serialization_alias="from")
    to: int


class ReleaseReply(BaseModel):
    connector: str
    dossier: str
    accepted_moves: list[MoveReply] = Field(
        description="the moves the status table does not list that the release accepted for this dossier"
    )
    replayed: dict[str, list[int]] = Field(description="subscription -> the dead letters put back, in order")


class UnusualMoveReply(BaseModel):
    seq: int
    event_id: str
    dossier: str
    from_: int = Field(alias="from", serialization_alias="from")
    to: int
    at: float = Field(description="when the bus sent it (seconds since the epoch)")
    accepted_by_release: bool = Field(description="under status_policy strict, after an operator's release")


class UnusualMovesReply(BaseModel):
    connector: str
    moves: list[UnusualMoveReply]
    next_after: int | None = Field(description="`after` for the next page; null at the end")


class PortalOperations(Protocol):
    """What the composition root offers over the portal connectors of the configuration in force."""

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
        """Raises NotFound for an unknown connector, and what ``release_errors`` lists."""
        ...

    async def unusual_moves(
        self, caller: System, *, after: int, limit: int, dossier: str | None, connector: str | None
    ) -> tuple[str, Sequence[Mapping[str, Any]]]:
        """The connector's name and a page of its unusual moves."""
        ...


def portal_router(
    operations: PortalOperations,
    officials: Verifier,
    is_admin: Callable[[str], bool],
    release_errors: Sequence[ErrorClass],
) -> APIRouter:
    router = APIRouter(tags=["portal"])

    @router.post(
        "/v1/portal/dossiers/{dossier}/release",
        response_model=ReleaseReply,
        response_model_by_alias=True,
        summary="Release a held dossier: accept its waiting status moves and replay its events in order",
        description="Admin grant. The official acting is required (`X-Official-Token`, or "
        "`X-Official-Id` where the system may assert it) and recorded with the reason in the audit "
        "log (`admin.portal.release`) before anything is done.",
        responses=errors(
            *AUTHENTICATED,
            *PARAMETERS,
            *FASTAPI_JSON_BODY,
            OfficialRequired,
            *OFFICIAL_ERRORS,
            Forbidden,
            NotFound,
            *release_errors,
            AuditUnavailable,
        ),
        openapi_extra={"parameters": official_parameters("the operator releasing the dossier")},
    )
    async def release(
        request: Request,
        dossier: Annotated[str, Path(max_length=128, description="the dossier code (MaHoSo)")],
        body: ReleaseBody,
        who: Authenticated,
        connector: ConnectorName = None,
    ) -> dict[str, Any]:
        if not is_admin(who.id):
            raise Forbidden(f"'{who.id}' may not release dossiers: it needs the admin grant")
        official = official_of_request(request.headers, who, officials)
        if official is None:
            raise OfficialRequired(
                "name the official releasing the dossier: X-Official-Token (or X-Official-Id where allowed)"
            )
        done = await operations.release(
            who,
            dossier,
            body.reason,
            official=official.id,
            official_basis=official.audit_basis,
            connector=connector,
        )
        return dict(done)

    @router.get(
        "/v1/portal/unusual-moves",
        response_model=UnusualMovesReply,
        response_model_by_alias=True,
        summary="Status moves the status table does not list that the portal sync sent, oldest first",
        responses=errors(*AUTHENTICATED, *PARAMETERS, Forbidden, NotFound),
    )
    async def unusual_moves(
        who: Authenticated,
        after: Annotated[int, Query(ge=0, description="moves numbered above this (`seq`)")] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_MOVES_PAGE)] = 100,
        dossier: Annotated[str | None, Query(max_length=128)] = None,
        connector: ConnectorName = None,
    ) -> dict[str, Any]:
        if not is_admin(who.id):
            raise Forbidden(f"'{who.id}' may not list the portal sync's moves: it needs the admin grant")
        name, moves = await operations.unusual_moves(
            who, after=after, limit=limit + 1, dossier=dossier, connector=connector
        )
        page = list(moves[:limit])
        following = page[-1]["seq"] if len(moves) > limit else None
        return {"connector": name, "moves": page, "next_after": following}

    return router
