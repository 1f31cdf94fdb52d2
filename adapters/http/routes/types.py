"""``GET /v1/types`` and ``GET /v1/types/{event_type}/versions/{version}/schema``: the event types
the bus knows and each version's contract, a JSON Schema document."""

from __future__ import annotations

import orjson
from fastapi import APIRouter
from pydantic import BaseModel
from starlette.responses import Response

from adapters.http.auth import Authenticated
from adapters.http.responses import AUTHENTICATED, PARAMETERS, errors, media
from router.bus import Bus
from router.errors import NotFound

SCHEMA_JSON = "application/schema+json"


class EventTypeReply(BaseModel):
    type: str
    versions: list[int]
    latest: int
    compatibility: str
    description: str
    schema_url: str


def types_router(bus: Bus) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/v1/types",
        response_model=list[EventTypeReply],
        responses=errors(*AUTHENTICATED),
        tags=["contracts"],
    )
    async def types(who: Authenticated) -> list[EventTypeReply]:
        return [
            EventTypeReply(
                type=t.name,
                versions=list(t.versions),
                latest=t.latest,
                compatibility=t.compatibility,
                description=t.description,
                schema_url=f"/v1/types/{t.name}/versions/{t.latest}/schema",
            )
            for t in bus.event_types()
        ]

    @router.get(
        "/v1/types/{event_type}/versions/{version}/schema",
        response_class=Response,
        responses={
            200: media(SCHEMA_JSON, {"type": "object"}, "the contract, a JSON Schema 2020-12 document"),
            **errors(*AUTHENTICATED, *PARAMETERS, NotFound),
        },
        tags=["contracts"],
    )
    async def schema(event_type: str, version: int, who: Authenticated) -> Response:
        document = bus.schema(event_type, version)
        return Response(orjson.dumps(document), media_type=SCHEMA_JSON)

    return router
