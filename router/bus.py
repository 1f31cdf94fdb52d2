"""The bus as its callers see it: one object per running bus that authenticates callers and
checks policy before every operation. The HTTP API and the CLI are thin shells around it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from router.delivery import REPLAY_HEADER
from router.directory import Directory, System
from router.envelope import CloudEvent
from router.errors import Forbidden, NotFound, Unauthenticated, UnknownType
from router.policy import Policy
from router.ports import DeadLetter, DeadLetterQuery, DeadLetterStore, Message, Transport
from router.publishing import Accepted, Publisher
from router.subscriptions import Subscription


class TypeInfo(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def versions(self) -> tuple[int, ...]: ...

    @property
    def latest(self) -> int: ...

    @property
    def compatibility(self) -> str: ...

    @property
    def description(self) -> str: ...


class Catalogue(Protocol):
    def types(self) -> Sequence[TypeInfo]: ...

    def schema(self, type: str, version: int) -> dict[str, Any]: ...


class DeliveryState(Protocol):
    """What the bus reads from, and tells, a running subscription delivery."""

    @property
    def circuit_state(self) -> str: ...


@dataclass(frozen=True, slots=True)
class SubscriptionStatus:
    name: str
    system: str
    types: tuple[str, ...]
    sink: str
    lag: int
    dead_letters: int
    circuit: str
    on_dead_letter: str
    batch_size: int


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    ids: tuple[int, ...] = ()
    subject: str | None = None
    everything: bool = False


MAX_REPLAY = 10_000


class Bus:
    def __init__(
        self,
        directory: Directory,
        policy: Policy,
        catalogue: Catalogue,
        publisher: Publisher,
        transport: Transport,
        dead_letters: DeadLetterStore,
        subscriptions: Sequence[Subscription],
        deliveries: Mapping[str, DeliveryState],
    ) -> None:
        self._directory = directory
        self._policy = policy
        self._catalogue = catalogue
        self._publisher = publisher
        self._transport = transport
        self._dead_letters = dead_letters
        self._subscriptions = {s.name: s for s in subscriptions}
        self._deliveries = deliveries

    # --- callers -------------------------------------------------------------------------------

    def authenticate(self, api_key: str | None) -> System:
        if not api_key:
            raise Unauthenticated("send the system's API key as 'Authorization: Bearer <key>'")
        caller = self._directory.authenticate(api_key)
        if caller is None:
            raise Unauthenticated("the API key is not valid")
        return caller

    # --- events --------------------------------------------------------------------------------

    async def publish(self, caller: System, events: Sequence[CloudEvent], batch: bool) -> list[Accepted]:
        return await self._publisher.publish(caller.id, events, batch)

    def event_types(self) -> Sequence[TypeInfo]:
        return self._catalogue.types()

    def schema(self, event_type: str, version: int) -> dict[str, Any]:
        try:
            return self._catalogue.schema(event_type, version)
        except UnknownType as error:
            raise NotFound(error.detail) from None

    # --- subscriptions and dead letters --------------------------------------------------------

    def _subscription(self, caller: System, name: str) -> Subscription:
        subscription = self._subscriptions.get(name)
        # A system that may not see a subscription is told it does not exist, not that it exists.
        if subscription is None or not self._may_see(caller, subscription):
            raise NotFound(f"no subscription '{name}' visible to '{caller.id}'")
        return subscription

    def _may_see(self, caller: System, subscription: Subscription) -> bool:
        return subscription.system == caller.id or self._policy.is_admin(caller.id)

    async def _status(self, subscription: Subscription) -> SubscriptionStatus:
        delivery = self._deliveries.get(subscription.name)
        return SubscriptionStatus(
            name=subscription.name,
            system=subscription.system,
            types=subscription.types,
            sink=subscription.sink.kind,
            lag=await self._transport.lag(subscription.group, subscription.topic),
            dead_letters=await self._dead_letters.count(subscription.name),
            circuit=delivery.circuit_state if delivery is not None else "unknown",
            on_dead_letter=subscription.on_dead_letter.value,
            batch_size=subscription.batch_size,
        )

    async def subscriptions(self, caller: System) -> list[SubscriptionStatus]:
        visible = [s for s in self._subscriptions.values() if self._may_see(caller, s)]
        return [await self._status(s) for s in visible]

    async def subscription(self, caller: System, name: str) -> SubscriptionStatus:
        return await self._status(self._subscription(caller, name))

    async def dead_letters(self, caller: System, name: str, query: DeadLetterQuery) -> list[DeadLetter]:
        self._subscription(caller, name)
        return await self._dead_letters.list(
            DeadLetterQuery(
                subscription=name,
                include_replayed=query.include_replayed,
                after_id=query.after_id,
                limit=query.limit,
                subject=query.subject,
                ids=query.ids,
            )
        )

    async def replay(self, caller: System, name: str, request: ReplayRequest) -> list[DeadLetter]:
        """Puts dead letters back on the subscription's delivery queue, oldest first.

        Only the subscribing system or an operator may replay. The letters are appended first and
        marked replayed after; each copy carries a dedup id naming its letter, so a replay repeated
        after a crash in between appends nothing twice.
        """
        subscription = self._subscription(caller, name)
        if subscription.system != caller.id and not self._policy.is_admin(caller.id):
            raise Forbidden(f"'{caller.id}' may not replay dead letters of '{name}'")
        if not request.everything and not request.ids and request.subject is None:
            raise Forbidden("name the dead letters to replay: ids, a subject, or all")
        letters = await self._dead_letters.list(
            DeadLetterQuery(subscription=name, ids=request.ids, subject=request.subject, limit=MAX_REPLAY)
        )
        if not letters:
            return []
        # The copies name their replay: a copy lifts the hold on its subject in queue order
        # (see router.delivery), so later events of the subject cannot overtake it.
        replay = (REPLAY_HEADER, uuid.uuid4().hex.encode())
        messages = [
            Message(
                key=letter.message.key,
                value=letter.message.value,
                headers=(*[h for h in letter.message.headers if h[0] != REPLAY_HEADER], replay),
                timestamp_ms=letter.message.timestamp_ms,
                dedup_id=f"replay/{letter.id}",
            )
            for letter in letters
        ]
        await self._transport.append(subscription.topic, messages)
        await self._dead_letters.mark_replayed([letter.id for letter in letters])
        return letters

    # --- health --------------------------------------------------------------------------------

    async def ready(self) -> dict[str, bool]:
        return {"transport": await self._transport.healthy()}
