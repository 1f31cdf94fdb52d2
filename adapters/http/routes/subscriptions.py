"""``GET /v1/subscriptions`` and ``GET /v1/subscriptions/{name}``: the subscriptions a caller may
see, each with its lag, dead letters and circuit."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from adapters.http.auth import Authenticated
from adapters.http.responses import AUTHENTICATED, errors
from router.bus import Bus, SubscriptionStatus
from router.errors import NotFound


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


def _subscription_reply(status: SubscriptionStatus) -> SubscriptionReply:
    return SubscriptionReply.model_validate(status, from_attributes=True)


def subscriptions_router(bus: Bus) -> APIRouter:
    router = APIRouter()

    @router.get(
        "/v1/subscriptions",
        response_model=list[SubscriptionReply],
        responses=errors(*AUTHENTICATED),
        tags=["subscriptions"],
    )
    async def subscriptions(who: Authenticated) -> list[SubscriptionReply]:
        return [_subscription_reply(s) for s in await bus.subscriptions(who)]

    @router.get(
        "/v1/subscriptions/{name}",
        response_model=SubscriptionReply,
        responses=errors(*AUTHENTICATED, NotFound),
        tags=["subscriptions"],
    )
    async def subscription(name: str, who: Authenticated) -> SubscriptionReply:
        return _subscription_reply(await bus.subscription(who, name))

    return router
