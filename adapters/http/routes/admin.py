"""``POST /v1/admin/reload``: the operator's configuration reload, admin grant only.

200 with what changed; 422 ``config_invalid`` listing every problem of the file (file, line,
pointer, fix: what ``lienthong config check`` prints) and nothing changed; 503
``audit_unavailable`` when the reload could not be audited (nothing changed either).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse, Response

from adapters.http import problems
from adapters.http.auth import Authenticated
from adapters.http.responses import AUTHENTICATED, PARAMETERS, ErrorClass, errors
from router.audit import AuditUnavailable
from router.directory import System
from router.errors import Forbidden, LienthongError, Unavailable

Reload = Callable[[System, str], Awaitable[dict[str, Any]]]


class Changed(BaseModel):
    added: list[str]
    removed: list[str]
    changed: list[str]


class ReloadReply(BaseModel):
    """What a reload changed (lienthong.reload_rules.Changes), with the generation now in force."""

    generation: int
    changed: bool = Field(description="false when the file says what was already in force")
    subscriptions: Changed
    systems: Changed
    policies_changed: bool
    connectors: Changed
    datasets_changed: bool
    procedures_changed: bool
    limits_changed: bool = Field(description="the limits per caller (`limits:`)")
    types_added: list[str]


def admin_router(reload: Reload, is_admin: Callable[[str], bool], refusal: ErrorClass) -> APIRouter:
    """``refusal`` is the error of a configuration refused (422), with its ``problems``."""
    router = APIRouter(tags=["operations"])

    @router.post(
        "/v1/admin/reload",
        summary="Read the configuration file again; put it in force whole, or refuse it whole",
        description="Nothing changes unless the answer is 200: `config_invalid` lists every problem "
        "of the file; `audit_unavailable` and `unavailable` (a new connector did not start) say why.",
        response_model=ReloadReply,
        responses=errors(*AUTHENTICATED, *PARAMETERS, Forbidden, refusal, AuditUnavailable, Unavailable),
    )
    async def reload_config(
        who: Authenticated,
        request: Request,
        x_official_id: Annotated[str | None, Header(max_length=200)] = None,
    ) -> Response:
        if not is_admin(who.id):
            raise Forbidden(f"'{who.id}' may not reload the configuration: it needs the admin grant")
        try:
            summary = await reload(who, (x_official_id or "").strip())
        except LienthongError as error:
            found = getattr(error, "problems", None)
            if found is None:
                raise
            return _invalid(error, found, request.url.path)
        return JSONResponse(summary)

    return router


def _invalid(error: LienthongError, found: Any, instance: str) -> Response:
    """The problem+json of a refused configuration: ``errors`` carry file, line, column,
    pointer, detail and fix of each problem."""
    body = {
        "type": f"/problems/{error.code}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
        "instance": instance,
        "errors": list(found),
    }
    return Response(orjson.dumps(body), status_code=error.status, media_type=problems.PROBLEM_JSON)
