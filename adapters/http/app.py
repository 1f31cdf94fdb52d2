"""The FastAPI application: routes, authentication, and errors rendered as problem+json."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

from adapters.http import problems
from adapters.http.auth import Authenticated, current_caller
from adapters.http.body import parse_events, read_bounded
from adapters.http.direct import DirectRoute, serve_directly
from router import envelope, tracing
from router.bus import MAX_PAGE, MAX_REPLAY, Bus, ReplayRequest, SubscriptionStatus
from router.directory import System
from router.errors import FieldError, LienthongError, NotFound, Unauthenticated, Unavailable
from router.metrics import Metrics
from router.ports import DeadLetter, DeadLetterQuery

log = logging.getLogger("lienthong.http")

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
Readiness = Callable[[], Awaitable[dict[str, bool]]]
MetricsRender = Callable[[], tuple[bytes, str]]

CLIENT_DISCONNECTED = "client_disconnected"

EVENT_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "One CloudEvent (structured or binary mode) or a batch of them.",
        "content": {
            envelope.STRUCTURED: {"schema": {"type": "object"}},
            envelope.BATCH: {"schema": {"type": "array", "items": {"type": "object"}}},
            envelope.JSON: {
                # a Media Type Object has no description of its own (OpenAPI 3.1): the schema's
                "schema": {
                    "type": "object",
                    "description": "binary mode: the attributes in ce- headers (ce-specversion, ce-id, ce-source, ...)",
                },
            },
        },
    }
}


class AcceptedEvent(BaseModel):
    id: str
    duplicate: bool = Field(description="true when this id from this source was already accepted")


class PublishReply(BaseModel):
    accepted: int
    duplicates: int
    events: list[AcceptedEvent]


class EventTypeReply(BaseModel):
    type: str
    versions: list[int]
    latest: int
    compatibility: str
    description: str
    schema_url: str


class SubscriptionReply(BaseModel):
    name: str
    system: str
    types: list[str]
    sink: str
    lag: int
    dead_letters: int
    circuit: str
    on_dead_letter: str
    batch_size: int


class DeadLetterReply(BaseModel):
    id: int
    subscription: str
    event_id: str
    subject: str
    reason: str
    attempts: int
    last_error: str
    failed_at_ms: int
    replayed_at_ms: int | None
    event: Any


class ReplayBody(BaseModel):
    ids: list[int] = Field(default_factory=list, max_length=MAX_REPLAY)
    subject: str | None = Field(default=None, max_length=2048)
    all: bool = False
    limit: int = Field(
        default=MAX_REPLAY, ge=1, le=MAX_REPLAY, description="replay at most this many, oldest first"
    )


class ReplayReply(BaseModel):
    replayed: int
    ids: list[int]
    # only when true: a reply that replayed everything named reads as it always did
    more: bool = Field(
        default=False, description="true when letters the request names are left: send it again for them"
    )


class PurgeReply(BaseModel):
    purged: int
    ids: list[int]


_NEXT_PAGE_HEADERS = {
    "X-Next-After": {
        "description": "sent only when more letters follow: the `after` of the next page",
        "schema": {"type": "integer"},
    },
    "Link": {
        "description": 'the next page\'s path and query, `rel="next"`; sent with X-Next-After',
        "schema": {"type": "string"},
    },
}


def _subscription_reply(status: SubscriptionStatus) -> SubscriptionReply:
    return SubscriptionReply.model_validate(status, from_attributes=True)


def _dead_letter_reply(letter: DeadLetter) -> DeadLetterReply:
    raw = envelope.structured_bytes(letter.message)
    try:
        event: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        event = {"undecodable": raw.decode("utf-8", "replace")}
    fields = {name: getattr(letter, name) for name in DeadLetterReply.model_fields if name != "event"}
    return DeadLetterReply(**fields, event=event)


def _count_refused(metrics: Metrics, error: LienthongError | ClientDisconnect, who: System | None) -> None:
    """Counts a publish request refused before its events reached the publisher's checks (or,
    the log down, after them): once, whatever it held. Its labels carry nothing the caller
    wrote, so that garbage cannot make new series: the type is ``unknown``, the source the
    authenticated system or ``unauthenticated``."""
    reason = error.code if isinstance(error, LienthongError) else CLIENT_DISCONNECTED
    source = "unauthenticated" if who is None or isinstance(error, Unauthenticated) else who.id
    metrics.event_rejected("unknown", source, reason)


def create_app(
    bus: Bus,
    *,
    max_body_bytes: int,
    max_batch_events: int,
    readiness: Readiness,
    metrics: MetricsRender,
    rejections: Metrics,
    lifespan: Lifespan | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The API; ``routers`` add the routes of optional parts (evidence, access log...), which
    use :data:`adapters.http.auth.Authenticated` and raise LienthongErrors like the rest.

    ``metrics`` renders ``/metrics``; ``rejections`` counts the publish requests refused before
    the publisher's checks (the bus's metrics, which the publisher counts refused events in)."""
    app = FastAPI(
        title="lienthong",
        summary="Data-sharing bus for e-government: CloudEvents in, schema-checked, routed, delivered.",
        version="0.1.0",
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry (on whenever a global provider is configured) would record
        # every request's path, and paths name people (/v1/subjects/{id}/access-log). The bus's
        # trace is its own spans (router/tracing.py), which carry no subject identifiers.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )

    app.state.bus = bus

    # --- errors ----------------------------------------------------------------------------------

    @app.exception_handler(LienthongError)
    async def on_error(request: Request, error: LienthongError) -> Response:
        return problems.from_error(error, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(request: Request, error: RequestValidationError) -> Response:
        found = tuple(
            FieldError("/" + "/".join(str(part) for part in item.get("loc", ())), str(item.get("msg", "")))
            for item in error.errors()[:50]
        )
        return problems.problem(
            400,
            "invalid_request",
            "The request's parameters are not valid",
            "see errors",
            request.url.path,
            found,
        )

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, error: HTTPException) -> Response:
        if error.status_code == 404:
            return problems.from_error(NotFound(f"no route {request.url.path}"), request.url.path)
        # Starlette's headers travel on: a 405 must say what is allowed (RFC 9110, Allow)
        headers = dict(error.headers or {})
        if error.status_code == 405:
            return problems.problem(
                405,
                "method_not_allowed",
                "Method not allowed",
                f"{request.method} is not allowed here",
                request.url.path,
                headers=headers,
            )
        return problems.problem(
            error.status_code,
            "http_error",
            "HTTP error",
            str(error.detail),
            request.url.path,
            headers=headers,
        )

    @app.exception_handler(ClientDisconnect)
    async def on_gone(request: Request, error: ClientDisconnect) -> Response:
        # the client closed its connection before sending the whole body: nothing was done, and
        # no one will read this answer; not a fault of the bus, so not logged as one
        log.debug("%s %s: the client went away before its request was read", request.method, request.url.path)
        return problems.problem(
            400,
            CLIENT_DISCONNECTED,
            "The client went away",
            "the request body was not received whole",
            request.url.path,
        )

    @app.exception_handler(Exception)
    async def on_crash(request: Request, error: Exception) -> Response:
        # the route's template, not the path: a path may name a person (/v1/subjects/{id}/...)
        route = getattr(request.scope.get("route"), "path", "(no route)")
        log.exception("unexpected error on %s %s", request.method, route)
        return problems.problem(
            500,
            "internal_error",
            "Internal error",
            "the bus failed unexpectedly; see its log",
            request.url.path,
        )

    # --- events ----------------------------------------------------------------------------------

    hot = APIRouter(route_class=DirectRoute)  # served by Starlette directly: adapters/http/direct.py

    @hot.post(
        "/v1/events",
        status_code=202,
        response_model=PublishReply,
        openapi_extra=EVENT_BODY_DOC,
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

    app.include_router(hot)

    @app.get("/v1/types", response_model=list[EventTypeReply], tags=["contracts"])
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

    @app.get("/v1/types/{event_type}/versions/{version}/schema", tags=["contracts"])
    async def schema(event_type: str, version: int, who: Authenticated) -> Response:
        document = bus.schema(event_type, version)
        return Response(orjson.dumps(document), media_type="application/schema+json")

    # --- subscriptions -----------------------------------------------------------------------------

    @app.get("/v1/subscriptions", response_model=list[SubscriptionReply], tags=["subscriptions"])
    async def subscriptions(who: Authenticated) -> list[SubscriptionReply]:
        return [_subscription_reply(s) for s in await bus.subscriptions(who)]

    @app.get("/v1/subscriptions/{name}", response_model=SubscriptionReply, tags=["subscriptions"])
    async def subscription(name: str, who: Authenticated) -> SubscriptionReply:
        return _subscription_reply(await bus.subscription(who, name))

    @app.get(
        "/v1/subscriptions/{name}/dead-letters",
        response_model=list[DeadLetterReply],
        tags=["dead letters"],
        summary="Dead letters in id order; when more follow, X-Next-After is the `after` of the next page",
        responses={200: {"headers": _NEXT_PAGE_HEADERS}},
    )
    async def dead_letters(
        name: str,
        who: Authenticated,
        request: Request,
        response: Response,
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        subject: Annotated[str | None, Query(max_length=2048)] = None,
        include_replayed: bool = False,
        x_official_id: Annotated[str | None, Header(max_length=200)] = None,
    ) -> list[DeadLetterReply]:
        # one letter past the page says whether another page follows; the body stays a bare
        # list, as clients already read it, and the marker goes in headers
        query = DeadLetterQuery(
            after_id=after, limit=limit + 1, subject=subject, include_replayed=include_replayed
        )
        letters = await bus.dead_letters(who, name, query)
        if len(letters) > limit:
            letters = letters[:limit]
            next_after = letters[-1].id
            following = request.url.include_query_params(after=next_after)
            response.headers["X-Next-After"] = str(next_after)
            response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
        await bus.record_reading(who, letters, official=(x_official_id or "").strip())
        return [_dead_letter_reply(letter) for letter in letters]

    @app.post(
        "/v1/subscriptions/{name}/dead-letters/replay",
        response_model=ReplayReply,
        response_model_exclude_defaults=True,
        tags=["dead letters"],
        summary="Put dead letters back on the delivery queue (by ids, by subject, or all), `limit` at a time",
    )
    async def replay(
        name: str,
        body: ReplayBody,
        who: Authenticated,
        x_official_id: Annotated[str | None, Header(max_length=200)] = None,
    ) -> ReplayReply:
        replayed = await bus.replay_round(
            who,
            name,
            ReplayRequest(ids=tuple(body.ids), subject=body.subject, everything=body.all),
            limit=body.limit,
            official=(x_official_id or "").strip(),
        )
        letters = replayed.letters
        return ReplayReply(replayed=len(letters), ids=[letter.id for letter in letters], more=replayed.more)

    @app.delete(
        "/v1/subscriptions/{name}/dead-letters",
        response_model=PurgeReply,
        tags=["dead letters"],
        summary="Delete dead letters for good (by ids, by subject, or all): admin grant, audited",
    )
    async def purge(
        name: str,
        who: Authenticated,
        id: Annotated[list[int] | None, Query(max_length=10_000)] = None,
        subject: Annotated[str | None, Query(max_length=2048)] = None,
        all: bool = False,
        x_official_id: Annotated[str | None, Header(max_length=200)] = None,
    ) -> PurgeReply:
        letters = await bus.purge(
            who,
            name,
            ReplayRequest(ids=tuple(id or ()), subject=subject, everything=all),
            official=(x_official_id or "").strip(),
        )
        return PurgeReply(purged=len(letters), ids=[letter.id for letter in letters])

    # --- operations ------------------------------------------------------------------------------

    @app.get("/healthz", tags=["operations"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="Readiness: transport, workers, critical sinks, audit")
    async def readyz() -> Response:
        checks = await readiness()
        if not all(checks.values()):
            failing = ", ".join(name for name, ok in checks.items() if not ok)
            raise Unavailable(f"not ready: {failing}")
        return JSONResponse({"status": "ready", "checks": checks})

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics")
    async def metrics_endpoint() -> Response:
        body, content_type = metrics()
        return Response(body, media_type=content_type)

    @app.get("/problems", tags=["operations"], summary="The stable error codes")
    async def problem_codes() -> dict[str, dict[str, Any]]:
        return problems.catalogue()

    @app.get("/problems/{code}", tags=["operations"], summary="One error code")
    async def problem_code(code: str) -> dict[str, Any]:
        found = problems.catalogue().get(code)
        if found is None:
            raise NotFound(f"no problem code '{code}'")
        return {"code": code, **found}

    for router in routers:
        app.include_router(router)
    serve_directly(app, [*hot.routes, *(route for router in routers for route in router.routes)])
    return app
