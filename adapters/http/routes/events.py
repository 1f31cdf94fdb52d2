"""``POST /v1/events``: publish one event or a batch; 202 once durable. A hot path, served by
Starlette directly (adapters/http/direct.py) and documented by FastAPI."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from adapters.http import problems
from adapters.http.auth import current_caller
from adapters.http.body import parse_events, read_bounded
from adapters.http.direct import DirectRoute
from adapters.http.publish_doc import publish_request
from adapters.http.responses import AUTHENTICATED, JSON_BODY, errors
from router import tracing
from router.bus import Bus
from router.directory import System
from router.errors import (
    Forbidden,
    LienthongError,
    MalformedEvent,
    SchemaViolation,
    Unauthenticated,
    Unavailable,
    UnknownType,
)
from router.metrics import Metrics


class AcceptedEvent(BaseModel):
    id: str
    duplicate: bool = Field(description="true when this id from this source was already accepted")


class PublishReply(BaseModel):
    accepted: int
    duplicates: int
    events: list[AcceptedEvent]


def _count_refused(metrics: Metrics, error: LienthongError | ClientDisconnect, who: System | None) -> None:
    """Counts a publish request refused before its events reached the publisher's checks (or,
    the log down, after them): once, whatever it held. Its labels carry nothing the caller
    wrote, so that garbage cannot make new series: the type is ``unknown``, the source the
    authenticated system or ``unauthenticated``."""
    reason = error.code if isinstance(error, LienthongError) else problems.ClientDisconnected.code
    source = "unauthenticated" if who is None or isinstance(error, Unauthenticated) else who.id
    metrics.event_rejected("unknown", source, reason)


def events_router(bus: Bus, rejections: Metrics, *, max_body_bytes: int, max_batch_events: int) -> APIRouter:
    """``rejections`` counts the publish requests refused before the publisher's checks (the
    bus's metrics, which the publisher counts refused events in)."""
    router = APIRouter(route_class=DirectRoute)

    @router.post(
        "/v1/events",
        status_code=202,
        response_model=PublishReply,
        openapi_extra=publish_request(max_batch_events),
        responses=errors(
            *AUTHENTICATED,
            *JSON_BODY,
            MalformedEvent,
            Forbidden,
            UnknownType,
            SchemaViolation,
            Unavailable,
        ),
        tags=["events"],
        summary="Publish one event or a batch; 202 once durable",
    )
    async def publish(request: Request) -> Response:
        # A refused request counts once in lienthong_events_rejected_total, here when its events
        # never reached the publisher's checks (which count each event they refuse themselves).
        # The try blocks cost nothing on the way through (Python 3.11+).
        who: System | None = None
        try:
            who = await current_caller(request)
            body = await read_bounded(request, max_body_bytes)
            events, batch = parse_events(
                request.headers.get("content-type"), request.headers, body, max_batch_events
            )
        except (LienthongError, ClientDisconnect) as error:
            _count_refused(rejections, error, who)
            raise
        tracing.stamp(events, request.headers.get(tracing.HEADER))
        try:
            accepted = await bus.publish(who, events, batch)
        except (Unauthenticated, Unavailable) as error:
            # refused before the checks (keys changed by a reload) or after them (the log is down)
            _count_refused(rejections, error, who)
            raise
        duplicates = sum(1 for a in accepted if a.duplicate)
        # The hot path answers with orjson directly rather than building and validating a pydantic
        # model per event; PublishReply documents the same shape in OpenAPI.
        reply = {
            "accepted": len(accepted) - duplicates,
            "duplicates": duplicates,
            "events": [{"id": a.id, "duplicate": a.duplicate} for a in accepted],
        }
        return Response(orjson.dumps(reply), status_code=202, media_type="application/json")

    return router
