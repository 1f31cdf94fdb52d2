"""The bus as its callers see it: one object per running bus that authenticates callers and
checks policy before every operation. The HTTP API and the CLI are thin shells around it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from router.audit import AuditLog, AuditUnavailable, admin_action
from router.dead_letter_reading import DeadLetterReading
from router.delivery import REPLAY_HEADER
from router.directory import Directory, System
from router.envelope import CloudEvent
from router.errors import Forbidden, InvalidRequest, NotFound, Unauthenticated, Unavailable, UnknownType
from router.policy import Policy
from router.ports import DeadLetter, DeadLetterQuery, DeadLetterStore, Message, Transport, TransportError
from router.publishing import Accepted, Publisher
from router.recipients import withheld
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

    def release(self, subjects: Sequence[str]) -> None:
        """Forgets held subjects (their dead letters were purged)."""
        ...


@dataclass(frozen=True, slots=True)
class Generation:
    """One configuration as the callers' path sees it: who the systems are, what they may do,
    the contracts, the publisher checking against them, the subscriptions. Immutable; a reload
    builds a new one and :meth:`Bus.swap` replaces the old in one assignment, so an operation
    that reads it once sees one configuration, never half of two."""

    directory: Directory
    policy: Policy
    catalogue: Catalogue
    publisher: Publisher
    subscriptions: Mapping[str, Subscription]
    number: int = 1  # 1 at start, one more at each reload


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
    """Which dead letters: by ids, by subject, or all (also what a purge takes)."""

    ids: tuple[int, ...] = ()
    subject: str | None = None
    everything: bool = False

    def describe(self) -> str:
        if self.everything:
            return "all"
        what = [f"ids {','.join(str(i) for i in self.ids)}"] if self.ids else []
        return " ".join([*what, *([f"subject {self.subject}"] if self.subject is not None else [])])


MAX_REPLAY = 10_000  # letters one replay puts back at most; ask again while ``more`` says so
MAX_PAGE = 1000  # dead letters one listing request returns at most


@dataclass(frozen=True, slots=True)
class Replayed:
    """One round of a replay: the letters put back, oldest first, and whether letters the
    request names were left for another round (it names more than the round's limit)."""

    letters: list[DeadLetter]
    more: bool


class Bus:
    """``delivery_of`` gives the running delivery of a subscription by name (None when it has
    none): the runtime owns the deliveries and keeps them current across reloads; the bus only
    reads one at a time. ``audit``, when given, records every dead-letter replay and purge before it is done
    (:meth:`admin_action`), and with ``reading`` the reading of dead letters that hold released
    personal data (:meth:`record_reading`); without them (unit tests) nothing is recorded."""

    def __init__(
        self,
        directory: Directory,
        policy: Policy,
        catalogue: Catalogue,
        publisher: Publisher,
        transport: Transport,
        dead_letters: DeadLetterStore,
        subscriptions: Sequence[Subscription],
        delivery_of: Callable[[str], DeliveryState | None],
        *,
        audit: AuditLog | None = None,
        reading: DeadLetterReading | None = None,
    ) -> None:
        self._reading = reading
        self._generation = Generation(
            directory, policy, catalogue, publisher, {s.name: s for s in subscriptions}
        )
        self._transport = transport
        self._dead_letters = dead_letters
        self._delivery_of = delivery_of
        self._audit = audit

    # --- configuration -------------------------------------------------------------------------

    @property
    def generation(self) -> Generation:
        return self._generation

    def swap(self, generation: Generation) -> None:
        """Makes ``generation`` the configuration of every operation that starts from now on."""
        self._generation = generation

    @property
    def directory(self) -> Directory:
        return self._generation.directory

    @property
    def policy(self) -> Policy:
        return self._generation.policy

    def is_admin(self, system_id: str) -> bool:
        return self._generation.policy.is_admin(system_id)

    # --- callers -------------------------------------------------------------------------------

    def authenticate(self, api_key: str | None) -> System:
        if not api_key:
            raise Unauthenticated("send the system's API key as 'Authorization: Bearer <key>'")
        caller = self._generation.directory.authenticate(api_key)
        if caller is None:
            raise Unauthenticated("the API key is not valid")
        return caller

    async def admin_action(
        self,
        caller: System,
        action: str,
        outcome: str,
        detail: str = "",
        *,
        official: str = "",
        official_basis: str = "",
        dossier: str = "",
    ) -> None:
        """Records an operator's action in the audit log; raises
        :class:`router.audit.AuditUnavailable` when it cannot, and the action must then not be
        done (or, recording its result, is reported as not recorded)."""
        if self._audit is None:
            return
        record = admin_action(
            uuid.uuid4().hex,
            caller.id,
            official,
            action,
            outcome,
            detail,
            official_basis=official_basis,
            dossier=dossier,
        )
        await self._audit.record([record])

    # --- events --------------------------------------------------------------------------------

    async def publish(self, caller: System, events: Sequence[CloudEvent], batch: bool) -> list[Accepted]:
        generation = self._generation
        now = generation.directory.get(caller.id)
        if now is not caller and now != caller:
            # Authenticated under the configuration before a reload that changed this system (a
            # key rotated or removed): checking it under the new policy would mix the two.
            raise Unauthenticated("the system's API keys changed during the request; send it again")
        return await generation.publisher.publish(caller.id, events, batch)

    async def publish_as(self, system_id: str, events: Sequence[CloudEvent], batch: bool) -> list[Accepted]:
        """Publishes for one of the bus's own parts (the evidence collector), under the current
        configuration."""
        return await self._generation.publisher.publish(system_id, events, batch)

    async def accepted_before(self, source: str, event_id: str) -> bool:
        """Whether the bus accepted event ``event_id`` of ``source`` within the retention window
        (always False on Kafka, which keeps no dedup ids)."""
        return await self._generation.publisher.accepted_before(source, event_id)

    def event_types(self) -> Sequence[TypeInfo]:
        return self._generation.catalogue.types()

    def schema(self, event_type: str, version: int) -> dict[str, Any]:
        try:
            return self._generation.catalogue.schema(event_type, version)
        except UnknownType as error:
            raise NotFound(error.detail) from None

    # --- subscriptions and dead letters --------------------------------------------------------

    def _subscription(self, caller: System, name: str) -> Subscription:
        subscription = self._generation.subscriptions.get(name)
        # A system that may not see a subscription is told it does not exist, not that it exists.
        if subscription is None or not self._may_see(caller, subscription):
            raise NotFound(f"no subscription '{name}' visible to '{caller.id}'")
        return subscription

    def _may_see(self, caller: System, subscription: Subscription) -> bool:
        return subscription.system == caller.id or self._generation.policy.is_admin(caller.id)

    async def _status(self, subscription: Subscription) -> SubscriptionStatus:
        delivery = self._delivery_of(subscription.name)
        return SubscriptionStatus(
            name=subscription.name,
            system=subscription.system,
            types=subscription.types,
            sink=subscription.sink.kind,
            lag=await self._transport.lag(subscription.group, subscription.topic),
            dead_letters=await self._dead_letter_count(subscription.name),
            circuit=delivery.circuit_state if delivery is not None else "unknown",
            on_dead_letter=subscription.on_dead_letter.value,
            batch_size=subscription.batch_size,
        )

    def visible_subscriptions(self, caller: System) -> list[Subscription]:
        """The subscriptions ``caller`` may see: its own; an operator sees all."""
        return [s for s in self._generation.subscriptions.values() if self._may_see(caller, s)]

    async def subscriptions(self, caller: System) -> list[SubscriptionStatus]:
        return [await self._status(s) for s in self.visible_subscriptions(caller)]

    async def subscription(self, caller: System, name: str) -> SubscriptionStatus:
        return await self._status(self._subscription(caller, name))

    async def _dead_letter_count(self, name: str) -> int:
        with _dead_letter_store():
            return await self._dead_letters.count(name)

    async def dead_letters(self, caller: System, name: str, query: DeadLetterQuery) -> list[DeadLetter]:
        """The letters as a listing shows them: one addressed to another system than the
        subscription's without its data (router.recipients)."""
        subscription = self._subscription(caller, name)
        with _dead_letter_store():
            letters = await self._dead_letters.list(
                DeadLetterQuery(
                    subscription=name,
                    include_replayed=query.include_replayed,
                    after_id=query.after_id,
                    limit=query.limit,
                    subject=query.subject,
                    ids=query.ids,
                )
            )
        return withheld(subscription.system, letters)

    async def record_reading(
        self, caller: System, letters: Sequence[DeadLetter], *, official: str = ""
    ) -> None:
        """Records, before ``letters`` are shown to ``caller``, the personal data they hold that
        the bus released (router.dead_letter_reading); AuditUnavailable if that cannot be done:
        the letters are then withheld."""
        if self._reading is None:
            return
        records = self._reading(letters, request_id=uuid.uuid4().hex, requester=caller.id, official=official)
        if not records:
            return
        if self._audit is None:
            raise AuditUnavailable(
                "no audit log is configured: dead letters holding personal data are withheld"
            )
        await self._audit.record(records)

    async def replay(
        self, caller: System, name: str, request: ReplayRequest, *, official: str = ""
    ) -> list[DeadLetter]:
        """One :meth:`replay_round` of at most MAX_REPLAY letters; its letters."""
        return (await self.replay_round(caller, name, request, official=official)).letters

    async def replay_round(
        self,
        caller: System,
        name: str,
        request: ReplayRequest,
        *,
        limit: int = MAX_REPLAY,
        official: str = "",
    ) -> Replayed:
        """Puts the oldest ``limit`` (at most MAX_REPLAY) of the dead letters the request names
        back on the subscription's delivery queue, oldest first; ``more`` says letters were left.
        A replayed letter is never listed again unreplayed, so asking again for the same letters
        replays the next ones.

        Only the subscribing system or an operator may replay. The replay is audited before it is
        done (``admin.replay``): if the record cannot be written, nothing is replayed
        (AuditUnavailable). The letters are appended first and marked replayed after; each copy
        carries a dedup id naming its letter, so a replay repeated after a crash in between
        appends nothing twice.
        """
        with _dead_letter_store():
            return await self._replay_round(caller, name, request, limit=limit, official=official)

    async def _replay_round(
        self, caller: System, name: str, request: ReplayRequest, *, limit: int, official: str
    ) -> Replayed:
        subscription = self._subscription(caller, name)
        if subscription.system != caller.id and not self.is_admin(caller.id):
            raise Forbidden(f"'{caller.id}' may not replay dead letters of '{name}'")
        if not request.everything and not request.ids and request.subject is None:
            raise InvalidRequest("name the dead letters to replay: ids, a subject, or all")
        if not 1 <= limit <= MAX_REPLAY:
            raise ValueError(f"a replay round puts back 1 to {MAX_REPLAY} letters, not {limit}")
        selection = DeadLetterQuery(subscription=name, ids=request.ids, subject=request.subject, limit=limit)
        letters = await self._dead_letters.list(selection)
        if not letters:
            return Replayed([], more=False)
        # asked for after this round's last letter, not with limit + 1: the store caps a list
        left = await self._dead_letters.list(replace(selection, after_id=letters[-1].id, limit=1))
        await self.admin_action(
            caller, "replay", "done", _letters_detail(name, request, letters), official=official
        )
        # The copies name their replay: a copy lifts the hold on its subject in queue order
        # (see router.delivery), so later events of the subject cannot overtake it. They are
        # stamped now (timestamp 0), not with the original publish time: retention deletes by
        # that stamp, and a letter older than the retention window would be deleted unread.
        replay = (REPLAY_HEADER, uuid.uuid4().hex.encode())
        messages = [
            Message(
                key=letter.message.key,
                value=letter.message.value,
                headers=(*[h for h in letter.message.headers if h[0] != REPLAY_HEADER], replay),
                dedup_id=f"replay/{letter.id}",
            )
            for letter in letters
        ]
        await self._transport.append(subscription.topic, messages)
        await self._dead_letters.mark_replayed([letter.id for letter in letters])
        return Replayed(letters, more=bool(left))

    async def purge(
        self, caller: System, name: str, request: ReplayRequest, *, official: str = ""
    ) -> list[DeadLetter]:
        """Deletes dead letters for good (replayed or not): operators only, audited before
        (``admin.purge``; refused with AuditUnavailable when the record cannot be written).
        Subjects held by ``on_dead_letter: hold_subject`` left with no letter, replayed or not,
        are released (:meth:`DeadLetterStore.purged_holds`)."""
        with _dead_letter_store():
            return await self._purge(caller, name, request, official=official)

    async def _purge(
        self, caller: System, name: str, request: ReplayRequest, *, official: str
    ) -> list[DeadLetter]:
        self._subscription(caller, name)
        if not self.is_admin(caller.id):
            raise Forbidden(f"'{caller.id}' may not purge dead letters: it needs the admin grant")
        if not request.everything and not request.ids and request.subject is None:
            raise InvalidRequest("name the dead letters to purge: ids, a subject, or all")
        letters = await self._dead_letters.list(
            DeadLetterQuery(
                subscription=name,
                ids=request.ids,
                subject=request.subject,
                limit=MAX_REPLAY,
                include_replayed=True,
            )
        )
        if not letters:
            return []
        await self.admin_action(
            caller, "purge", "done", _letters_detail(name, request, letters), official=official
        )
        await self._dead_letters.purge([letter.id for letter in letters])
        delivery = self._delivery_of(name)
        if delivery is not None:
            # the store's rule, as for a purge through another process: a subject left with a
            # replayed letter stays held until the copy comes
            subjects = sorted({letter.subject for letter in letters})
            delivery.release(sorted(await self._dead_letters.purged_holds(name, subjects)))
        return letters

    # --- health --------------------------------------------------------------------------------

    async def ready(self) -> dict[str, bool]:
        return {"transport": await self._transport.healthy()}


@contextlib.contextmanager
def _dead_letter_store() -> Iterator[None]:
    """The dead-letter store out of reach on a request (a full disk, the shared state database
    down): the caller is answered 503, to try again, never an internal error. Deliveries see the
    TransportError itself and keep their batch uncommitted."""
    try:
        yield
    except TransportError as error:
        raise Unavailable(f"the dead letters cannot be read or changed now: {error}") from None


def _letters_detail(name: str, request: ReplayRequest, letters: Sequence[DeadLetter]) -> str:
    ids = ",".join(str(letter.id) for letter in letters[:50])
    more = f" (+{len(letters) - 50} more)" if len(letters) > 50 else ""
    return f"subscription {name}: {len(letters)} dead letter(s) ({request.describe()}): ids {ids}{more}"
