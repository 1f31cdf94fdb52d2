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
from starlette.responses import JSONResponse, Response

from adapters.http import problems
from adapters.http.auth import Authenticated
from router.directory import System
from router.errors import Forbidden, LienthongError

Reload = Callable[[System, str], Awaitable[dict[str, Any]]]


def admin_router(reload: Reload, is_admin: Callable[[str], bool]) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.post(
        "/v1/admin/reload",
        summary="Read the configuration file again; put it in force whole, or refuse it whole",
        responses={
            200: {"description": "in force; the body says what changed"},
            403: {"description": "the caller does not hold the admin grant (problem+json)"},
            422: {"description": "config_invalid: the errors; the running configuration is unchanged"},
            503: {"description": "audit_unavailable, or a new connector did not start; nothing changed"},
        },
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
