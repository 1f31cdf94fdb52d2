"""``GET /v1/asyncapi.json``: the AsyncAPI 3.0 document (adapters.http.asyncapi), as the caller may
see it: every event type (as ``/v1/types`` shows them), and only the subscriptions the caller may
see (its own; an operator's, all), since they name the subscribers' systems and endpoints."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from adapters.http.auth import Authenticated
from adapters.http.responses import AUTHENTICATED, errors, media
from router.directory import System

# the document as ``caller`` may see it, with the bus at the given base URL
AsyncApiDocument = Callable[[System, str], dict[str, Any]]


def asyncapi_router(document_of: AsyncApiDocument) -> APIRouter:
    router = APIRouter(tags=["contracts"])

    @router.get(
        "/v1/asyncapi.json",
        summary="AsyncAPI 3.0: the event types, and the subscriptions the caller may see",
        response_class=Response,
        responses={
            200: media("application/json", {"type": "object"}, "an AsyncAPI 3.0 document"),
            **errors(*AUTHENTICATED),
        },
    )
    async def asyncapi_document(request: Request, who: Authenticated) -> Response:
        base = str(request.base_url).rstrip("/")
        return Response(orjson.dumps(document_of(who, base)), media_type="application/json")

    return router
