"""``/v1/subscriptions/{name}/dead-letters``: read a subscription's dead letters a page at a time,
put them back on the delivery queue (replay), or delete them for good (purge, admin grant).
Every call is audited."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from adapters.http.auth import Authenticated
from adapters.http.inputs import LetterId, QueryBool, ReplayBody
from adapters.http.responses import AUTHENTICATED, FASTAPI_JSON_BODY, PARAMETERS, errors
from router import envelope
from router.audit import AuditUnavailable
from router.bus import MAX_PAGE, Bus, ReplayRequest
from router.errors import Forbidden, NotFound, Unavailable
from router.ports import DeadLetter, DeadLetterQuery

# ids a purge names in its query: 1000 of 16 digits and the longest subject, percent-encoded,
# keep a request's head well under the default http.max_head of 64 KiB (beyond, the server
# answers 431 before the API sees the request: adapters/http/head_limit.py)
MAX_PURGE_IDS = 1000


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


def _dead_letter_reply(letter: DeadLetter) -> DeadLetterReply:
    raw = envelope.structured_bytes(letter.message)
    try:
        event: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        event = {"undecodable": raw.decode("utf-8", "replace")}
    fields = {name: getattr(letter, name) for name in DeadLetterReply.model_fields if name != "event"}
    return DeadLetterReply(**fields, event=event)


def dead_letters_router(bus: Bus) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/v1/subscriptions/{name}/dead-letters",
        response_model=list[DeadLetterReply],
        tags=["dead letters"],
        summary="Dead letters in id order; when more follow, X-Next-After is the `after` of the next page",
        responses={
            200: {"headers": _NEXT_PAGE_HEADERS},
            **errors(*AUTHENTICATED, *PARAMETERS, NotFound, AuditUnavailable, Unavailable),
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

    @router.post(
        "/v1/subscriptions/{name}/dead-letters/replay",
        response_model=ReplayReply,
        response_model_exclude_defaults=True,
        responses=errors(
            *AUTHENTICATED,
            *PARAMETERS,
            *FASTAPI_JSON_BODY,
            Forbidden,
            NotFound,
            AuditUnavailable,
            Unavailable,
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

    @router.delete(
        "/v1/subscriptions/{name}/dead-letters",
        response_model=PurgeReply,
        responses=errors(*AUTHENTICATED, *PARAMETERS, Forbidden, NotFound, AuditUnavailable, Unavailable),
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

    return router
