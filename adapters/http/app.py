"""The FastAPI application: routes, authentication, and errors rendered as problem+json."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Hashable, Sequence
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
from adapters.http.allow import allowed_methods
from adapters.http.auth import Authenticated, current_caller
from adapters.http.body import parse_events, read_bounded
from adapters.http.direct import DirectRoute, serve_directly
from adapters.http.inputs import LetterId, QueryBool, ReplayBody
from adapters.http.limits import DEFAULT_MAX_HEADERS, InputLimits
from adapters.http.openapi import DocumentPart, serve_document
from adapters.http.publish_doc import add_cloudevent_schema, publish_request
from adapters.http.responses import AUTHENTICATED, FASTAPI_JSON_BODY, JSON_BODY, PARAMETERS, errors, media
from adapters.metrics import CONTENT_TYPE as METRICS_TEXT
from router import envelope, tracing
from router.audit import AuditUnavailable
from router.bus import MAX_PAGE, Bus, ReplayRequest, SubscriptionStatus
from router.directory import System
from router.errors import (
    FieldError,
    Forbidden,
    InvalidRequest,
    LienthongError,
    MalformedEvent,
    MalformedJson,
    NotFound,
    SchemaViolation,
    Unauthenticated,
    Unavailable,
    UnknownType,
)
from router.metrics import Metrics
from router.ports import DeadLetter, DeadLetterQuery

log = logging.getLogger("lienthong.http")

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]
Readiness = Callable[[], Awaitable[dict[str, bool]]]
MetricsRender = Callable[[], tuple[bytes, str]]

SCHEMA_JSON = "application/schema+json"
# ids a purge names in its query: 1000 of 16 digits and the longest subject, percent-encoded,
# keep a request's head well under the default http.max_head of 64 KiB (beyond, the server
# answers 431 before the API sees the request: adapters/http/head_limit.py)
MAX_PURGE_IDS = 1000


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


class ReadyReply(BaseModel):
    status: str
    checks: dict[str, bool] = Field(description="each check and whether it passes")


class ProblemCode(BaseModel):
    status: int
    title: str
    description: str


class NamedProblemCode(ProblemCode):
    code: str


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
    reason = error.code if isinstance(error, LienthongError) else problems.ClientDisconnected.code
    source = "unauthenticated" if who is None or isinstance(error, Unauthenticated) else who.id
    metrics.event_rejected("unknown", source, reason)


def create_app(
    bus: Bus,
    *,
    max_body_bytes: int,
    max_batch_events: int,
    max_headers: int = DEFAULT_MAX_HEADERS,
    readiness: Readiness,
    metrics: MetricsRender,
    rejections: Metrics,
    lifespan: Lifespan | None = None,
    routers: Sequence[APIRouter] = (),
    document_parts: Sequence[DocumentPart] = (),
    document_version: Callable[[], Hashable] = lambda: None,
) -> FastAPI:
    """The API; ``routers`` add the routes of optional parts (evidence, access log...), which
    use :data:`adapters.http.auth.Authenticated` and raise LienthongErrors like the rest.

    ``metrics`` renders ``/metrics``; ``rejections`` counts the publish requests refused before
    the publisher's checks (the bus's metrics, which the publisher counts refused events in).
    ``document_parts`` write the parts of the OpenAPI document that the configuration in force
    decides; the document is built again when ``document_version()`` changes (a reload)."""
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
    # every request bounded before a route reads it (adapters/http/limits.py)
    app.add_middleware(
        InputLimits, max_body_bytes=max_body_bytes, max_headers=max_headers, routes=lambda: app.router.routes
    )

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
        if any(item.get("type") == "json_invalid" for item in error.errors()):
            return problems.from_error(MalformedJson("the body is not valid JSON", found), request.url.path)
        return problems.from_error(InvalidRequest("see errors", found), request.url.path)

    @app.exception_handler(HTTPException)
    async def on_http(request: Request, error: HTTPException) -> Response:
        if error.status_code == 404:
            return problems.from_error(NotFound(f"no route {request.url.path}"), request.url.path)
        if error.status_code == 400:
            # FastAPI's only 400: a JSON body it could not decode (invalid UTF-8)
            return problems.from_error(
                MalformedJson(f"the body is not JSON: {error.detail}"), request.url.path
            )
        headers = dict(error.headers or {})
        if error.status_code == 405:
            # Starlette names the methods of the first route of the path only; a path served by
            # several routes (GET and DELETE dead-letters) must name them all (RFC 9110, Allow)
            headers["Allow"] = ", ".join(allowed_methods(app.router.routes, request.scope))
            refused = problems.MethodNotAllowed(f"{request.method} is not allowed here")
            return problems.from_error(refused, request.url.path, headers)
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
        gone = problems.ClientDisconnected("the request body was not received whole")
        return problems.from_error(gone, request.url.path)

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

    app.include_router(hot)

    @app.get(
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

    @app.get(
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

    # --- subscriptions -----------------------------------------------------------------------------

    @app.get(
        "/v1/subscriptions",
        response_model=list[SubscriptionReply],
        responses=errors(*AUTHENTICATED),
        tags=["subscriptions"],
    )
    async def subscriptions(who: Authenticated) -> list[SubscriptionReply]:
        return [_subscription_reply(s) for s in await bus.subscriptions(who)]

    @app.get(
        "/v1/subscriptions/{name}",
        response_model=SubscriptionReply,
        responses=errors(*AUTHENTICATED, NotFound),
        tags=["subscriptions"],
    )
    async def subscription(name: str, who: Authenticated) -> SubscriptionReply:
        return _subscription_reply(await bus.subscription(who, name))

    @app.get(
        "/v1/subscriptions/{name}/dead-letters",
        response_model=list[DeadLetterReply],
        tags=["dead letters"],
        summary="Dead letters in id order; when more follow, X-Next-After is the `after` of the next page",
        responses={
            200: {"headers": _NEXT_PAGE_HEADERS},
            **errors(*AUTHENTICATED, *PARAMETERS, NotFound, AuditUnavailable),
        },
    )
    async def dead_letters(
        name: str,
        who: Authenticated,
        request: Request,
        response: Response,
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        subject: Annotated[str | None, Query(max_length=2048)] = None,
        include_replayed: Annotated[QueryBool, Query()] = False,
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
        responses=errors(
            *AUTHENTICATED, *PARAMETERS, *FASTAPI_JSON_BODY, Forbidden, NotFound, AuditUnavailable
        ),
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
        responses=errors(*AUTHENTICATED, *PARAMETERS, Forbidden, NotFound, AuditUnavailable),
        tags=["dead letters"],
        summary="Delete dead letters for good (by ids, by subject, or all): admin grant, audited",
        description="Name the letters with at least one of `id`, `subject` and `all=true` "
        "(`400 invalid_request` otherwise).",
    )
    async def purge(
        name: str,
        who: Authenticated,
        id: Annotated[list[LetterId] | None, Query(max_length=MAX_PURGE_IDS)] = None,
        subject: Annotated[str | None, Query(max_length=2048)] = None,
        all: Annotated[QueryBool, Query()] = False,
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

    @app.get(
        "/readyz",
        response_model=ReadyReply,
        responses=errors(Unavailable),
        tags=["operations"],
        summary="Readiness: transport, workers, critical sinks, audit",
    )
    async def readyz() -> Response:
        checks = await readiness()
        if not all(checks.values()):
            failing = ", ".join(name for name, ok in checks.items() if not ok)
            raise Unavailable(f"not ready: {failing}")
        return JSONResponse({"status": "ready", "checks": checks})

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: media(METRICS_TEXT, {"type": "string"}, "Prometheus text exposition format")},
        tags=["operations"],
        summary="Prometheus metrics",
    )
    async def metrics_endpoint() -> Response:
        body, content_type = metrics()
        return Response(body, media_type=content_type)

    @app.get("/problems", tags=["operations"], summary="The stable error codes")
    async def problem_codes() -> dict[str, ProblemCode]:
        return {code: ProblemCode(**entry) for code, entry in problems.catalogue().items()}

    @app.get(
        "/problems/{code}",
        responses=errors(NotFound),
        tags=["operations"],
        summary="One error code",
    )
    async def problem_code(code: str) -> NamedProblemCode:
        found = problems.catalogue().get(code)
        if found is None:
            raise NotFound(f"no problem code '{code}'")
        return NamedProblemCode(code=code, **found)

    for router in routers:
        app.include_router(router)
    serve_directly(app, [*hot.routes, *(route for router in routers for route in router.routes)])
    serve_document(app, (add_cloudevent_schema, *document_parts), document_version)
    return app
