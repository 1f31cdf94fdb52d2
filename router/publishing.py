"""Publishing: the checks an event passes before the bus accepts it, and the durable append.

Order of checks, cheapest and most telling first: the source is the caller, the caller may
publish the type, the type is registered, the data matches its schema, an event carrying
released personal data names its recipient, the subject agrees with the data. A batch is all-or-nothing: one bad event rejects the batch and nothing is written.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import orjson

from router import tracing
from router.envelope import CloudEvent, dedup_id, to_message
from router.errors import (
    FieldError,
    Forbidden,
    LienthongError,
    MalformedEvent,
    SchemaViolation,
    Unavailable,
    UnknownType,
)
from router.metrics import Metrics
from router.ports import AppendResult, Message, Routed, RoutingLog, Transport, TransportError, hot_value
from router.recipients import RECIPIENT
from router.state import ClaimState, Placed, PublishDedup, StateUnavailable

log = logging.getLogger(__name__)

INBOUND_TOPIC = "inbound"
# Bounds the error list of a rejected batch so a hostile batch cannot make a huge reply.
MAX_REPORTED_ERRORS = 50


class SchemaRef(Protocol):
    @property
    def type(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def id(self) -> str: ...


RefT = TypeVar("RefT", bound=SchemaRef)


class Contracts(Protocol[RefT]):
    """What publishing needs of the schema registry (``schemas.registry.SchemaRegistry``)."""

    def resolve(self, type: str, dataschema: str | None) -> RefT: ...

    def validate(self, ref: RefT, data: Any, pointer_prefix: str = "/data") -> tuple[FieldError, ...]: ...

    def subject_pointer(self, type: str) -> str | None: ...

    def knows(self, type: str) -> bool: ...

    def released_types(self) -> frozenset[str]: ...


class PublishPolicy(Protocol):
    def may_publish(self, system_id: str, event_type: str) -> bool: ...


class FanOut(Protocol):
    """The router's decision at publish (``router.routing.Router``)."""

    def at_publish(self, published: Sequence[tuple[CloudEvent, Message]]) -> list[Routed | None]: ...

    def count_routed(self, routed: Sequence[Routed | None], results: Sequence[AppendResult]) -> None: ...


@dataclass(frozen=True, slots=True)
class RoutingAtPublish:
    """Routing in the publish's own append, on a transport that can (the embedded log): the
    router of the publisher's configuration decides, the log appends the event and its routed
    copies together and moves ``group``'s (the router's) offsets past the event."""

    router: FanOut
    log: RoutingLog
    group: str


@hot_value
class Accepted:
    id: str
    duplicate: bool


# The unescaped tokens of each pointer looked up: the subject pointers of the registered types,
# a handful, read for every event published or routed. Bounded all the same.
_POINTER_TOKENS: dict[str, tuple[str, ...]] = {}


def _resolve_pointer(data: Any, pointer: str) -> Any:
    """RFC 6901 lookup; ``None`` when the path does not exist."""
    tokens = _POINTER_TOKENS.get(pointer)
    if tokens is None:
        tokens = tuple(raw.replace("~1", "/").replace("~0", "~") for raw in pointer.split("/")[1:])
        if len(_POINTER_TOKENS) < 1024:
            _POINTER_TOKENS[pointer] = tokens
    node = data
    for token in tokens:
        if isinstance(node, dict):
            node = node.get(token)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node


class EventChecks:
    """The checks every event passes, whoever brought it to the bus: the source may publish the
    type, the type is registered, the data matches its schema, the subject agrees with the data.

    An event of a type that carries released personal data must name its ``recipient``
    (router.recipients): without one no subscription would receive it.

    The HTTP API runs them (after checking the source is the caller) before it appends; the router
    runs them on the Kafka inbound topic, where agencies may also produce directly.
    """

    def __init__(self, contracts: Contracts[Any], policy: PublishPolicy) -> None:
        self._contracts = contracts
        self._policy = policy
        self._released = contracts.released_types()

    def label(self, event_type: str) -> str:
        """``event_type`` as a metric label: itself when registered, else ``unknown`` (labels
        never carry producer input the bus does not know, so garbage cannot make series)."""
        return event_type if self._contracts.knows(event_type) else "unknown"

    def check(self, event: CloudEvent, prefix: str = "") -> tuple[LienthongError | None, Any]:
        """Returns the first error of the event (or None) and the resolved schema reference.

        A valid event gets its ``subject`` from the data when it had none.
        """
        here = prefix or ""
        if not self._policy.may_publish(event.source, event.type):
            return Forbidden(
                f"'{event.source}' may not publish '{event.type}'",
                (FieldError(f"{here}/type", "no policy lets this system publish this type"),),
            ), None
        try:
            ref = self._contracts.resolve(event.type, event.dataschema)
        except UnknownType as error:
            return UnknownType(error.detail, (FieldError(f"{here}/type", error.detail),)), None
        except LienthongError as error:
            where = error.errors[0].pointer if error.errors else "/dataschema"
            return type(error)(error.detail, (FieldError(f"{here}{where}", error.detail),)), None
        problems = self._contracts.validate(ref, event.data, f"{here}/data")
        if problems:
            return SchemaViolation(f"the data does not match {ref.id}", problems), ref
        if event.type in self._released and not event.extensions.get(RECIPIENT):
            detail = f"'{event.type}' carries personal data released to one system: name it in 'recipient'"
            return MalformedEvent(detail, (FieldError(f"{here}/recipient", detail),)), ref
        subject_pointer = self._contracts.subject_pointer(event.type)
        if subject_pointer is not None:
            found = _resolve_pointer(event.data, subject_pointer)
            expected = found if isinstance(found, str) else None
            if event.subject is None and expected is not None:
                event.subject = expected
            elif expected is not None and event.subject != expected:
                return SchemaViolation(
                    "the subject must be the event's ordering key from its data",
                    (FieldError(f"{here}/subject", f"must equal data{subject_pointer} ('{expected}')"),),
                ), ref
        return None, ref


class Publisher:
    def __init__(
        self,
        contracts: Contracts[Any],
        policy: PublishPolicy,
        transport: Transport,
        metrics: Metrics,
        topic: str = INBOUND_TOPIC,
        tracer: tracing.Tracer | None = None,
        dedup: PublishDedup | None = None,
        routing: RoutingAtPublish | None = None,
    ) -> None:
        """``routing``: the events are routed in their own append (see :class:`RoutingAtPublish`);
        without it a router reads them back from ``topic``."""
        self._checks = EventChecks(contracts, policy)
        self._transport = transport
        # the shared dedup of a transport that keeps no dedup ids (Kafka): ``(source, id)`` is
        # appended once whichever process of the bus it reaches
        self._dedup = dedup
        self._metrics = metrics
        self._topic = topic
        self._tracer = tracer
        self._routing = routing

    def _check(self, system_id: str, event: CloudEvent, prefix: str) -> tuple[LienthongError | None, Any]:
        """Returns the first error of the event (or None) and the resolved schema reference."""
        if event.source != system_id:
            return Forbidden(
                f"source '{event.source}' is not the authenticated system '{system_id}'",
                (
                    FieldError(
                        f"{prefix}/source", f"must be '{system_id}', the system the API key belongs to"
                    ),
                ),
            ), None
        return self._checks.check(event, prefix)

    async def accepted_before(self, source: str, event_id: str) -> bool:
        """Whether an event ``event_id`` from ``source`` was accepted within the retention window
        (False where neither the transport nor a shared dedup store keeps dedup ids: the caller
        must not rely on it to skip work that has to be done once)."""
        if self._dedup is not None:
            try:
                return await self._dedup.seen(self._topic, dedup_id(source, event_id))
            except StateUnavailable as error:
                raise Unavailable(f"the shared state store is unavailable: {error.detail}") from None
        return await self._transport.seen(self._topic, dedup_id(source, event_id))

    async def publish(self, system_id: str, events: Sequence[CloudEvent], batch: bool) -> list[Accepted]:
        """Checks every event, then appends all of them durably, or none.

        Raises the error of the first bad event, carrying the errors of every bad event (their
        pointers are prefixed with the event's index in a batch).
        """
        if self._tracer is None:
            return await self._publish(system_id, events, batch)
        return await self._publish_traced(self._tracer, system_id, events, batch)

    async def _publish_traced(
        self, tracer: tracing.Tracer, system_id: str, events: Sequence[CloudEvent], batch: bool
    ) -> list[Accepted]:
        """:meth:`publish` with a ``publish <type>`` span per event, which becomes the event's
        stored trace context: the parent of its deliveries."""
        with ExitStack() as spans:
            for event in events:
                # a trace the bus started has no parent span anywhere: the publish span is its root
                parent = None if event.trace_started else event.extensions.get(tracing.ATTRIBUTE)
                span = spans.enter_context(
                    tracing.recording(
                        tracer,
                        f"publish {event.type}",
                        "server",
                        parent if isinstance(parent, str) else None,
                        {
                            "messaging.system": tracing.MESSAGING_SYSTEM,
                            "messaging.operation.type": "receive",
                            "messaging.destination.name": event.type,
                            "messaging.message.id": event.id,
                            "lienthong.source": system_id,
                        },
                    )
                )
                event.extensions[tracing.ATTRIBUTE] = span.traceparent
            # a refused batch fails every event's span (tracing.recording), with the problem's code
            return await self._publish(system_id, events, batch)

    async def _publish(self, system_id: str, events: Sequence[CloudEvent], batch: bool) -> list[Accepted]:
        refs: list[Any] = []
        first: LienthongError | None = None
        errors: list[FieldError] = []
        for index, event in enumerate(events):
            error, ref = self._check(system_id, event, f"/{index}" if batch else "")
            if error is not None:
                self._metrics.event_rejected(self._checks.label(event.type), system_id, error.code)
                first = first or error
                errors.extend(error.errors)
            refs.append(ref)
        if first is not None:
            if len(events) > 1:
                detail = f"{len(errors)} problem(s) in the batch; nothing was accepted. First: {first.detail}"
                raise type(first)(detail, tuple(errors[:MAX_REPORTED_ERRORS]))
            raise first
        messages = []
        for index, (event, ref) in enumerate(zip(events, refs, strict=True)):
            event.dataschema = ref.id
            try:
                data = b"" if event.data is None else orjson.dumps(event.data)
            except orjson.JSONEncodeError:
                # The request parser reads JSON up to 1024 levels deep, the encoder writes up to
                # 254; a schema with a free-form member lets data between the two through.
                self._metrics.event_rejected(event.type, system_id, MalformedEvent.code)
                raise _too_deep(index, batch) from None
            messages.append(to_message(event, data))
        if self._routing is not None:
            results = await self._append_routed(events, messages)
        elif self._dedup is None:
            results = await self._append(messages)
        else:
            results = await self._deduplicated(messages)
        received: dict[str, int] = {}
        for event in events:
            received[event.type] = received.get(event.type, 0) + 1
        for event_type, count in received.items():
            self._metrics.event_received(event_type, system_id, count)
        return [Accepted(event.id, result.duplicate) for event, result in zip(events, results, strict=True)]

    async def _append_routed(
        self, events: Sequence[CloudEvent], messages: Sequence[Message]
    ) -> list[AppendResult]:
        """Appends the messages with their routed copies (:class:`RoutingAtPublish`)."""
        assert self._routing is not None
        router, log = self._routing.router, self._routing.log
        routed = router.at_publish(list(zip(events, messages, strict=True)))
        try:
            results = await log.append_routed(self._topic, messages, routed, self._routing.group)
        except TransportError as error:
            raise Unavailable(f"the event log is unavailable: {error}") from error
        router.count_routed(routed, results)
        return results

    async def _append(self, messages: Sequence[Message]) -> list[AppendResult]:
        try:
            return await self._transport.append(self._topic, messages)
        except TransportError as error:
            # The log is out of reach (a broker restarting, a full disk): nothing was acknowledged,
            # the publisher retries later.
            raise Unavailable(f"the event log is unavailable: {error}") from error

    async def _deduplicated(self, messages: Sequence[Message]) -> list[AppendResult]:
        """Appends the messages whose dedup id this process claims in the shared store; the
        others are answered as duplicates (appended already) or refused with 503 (another process
        is appending the same event right now: the client's retry gets the duplicate)."""
        assert self._dedup is not None
        ids = list(dict.fromkeys(m.dedup_id for m in messages if m.dedup_id is not None))
        try:
            claims = await self._dedup.claim(self._topic, ids)
        except StateUnavailable as error:
            raise Unavailable(f"the shared state store is unavailable: {error.detail}") from None
        mine = [dedup_id for dedup_id in ids if claims[dedup_id].state is ClaimState.MINE]
        claimed = set(mine)
        if any(claim.state is ClaimState.IN_FLIGHT for claim in claims.values()):
            await self._give_back(mine)
            raise Unavailable("the same event is being published through another process of the bus; retry")
        first: set[str] = set()
        sending: list[Message] = []
        for message in messages:
            if message.dedup_id is None or (message.dedup_id in claimed and message.dedup_id not in first):
                sending.append(message)
                if message.dedup_id is not None:
                    first.add(message.dedup_id)
        try:
            sent = iter(await self._append(sending) if sending else [])
        except Unavailable:
            await self._give_back(mine)
            raise
        results: list[AppendResult] = []
        placed: dict[str, AppendResult] = {}
        for message in messages:
            key = message.dedup_id
            if key is not None and key in placed:  # a second copy in this call
                results.append(AppendResult(placed[key].partition, placed[key].offset, duplicate=True))
            elif key is not None and claims[key].state is ClaimState.DUPLICATE:
                claim = claims[key]
                results.append(AppendResult(claim.partition, claim.offset, duplicate=True))
            else:
                result = next(sent)
                results.append(result)
                if key is not None:
                    placed[key] = result
        try:
            await self._dedup.settle(
                self._topic, [Placed(key, result.partition, result.offset) for key, result in placed.items()]
            )
        except StateUnavailable:
            # appended, so acknowledged; the claims stay unsettled until their lease ends, after
            # which a re-sent publish is appended again (a redelivery receivers drop by id)
            log.warning("dedup claims of %d appended events not settled", len(placed), exc_info=True)
        return results

    async def _give_back(self, claimed: Sequence[str]) -> None:
        assert self._dedup is not None
        try:
            await self._dedup.release(self._topic, claimed)
        except StateUnavailable:  # they expire with their lease
            log.warning("dedup claims of %d events not released", len(claimed), exc_info=True)


def _too_deep(index: int, batch: bool) -> MalformedEvent:
    pointer = f"/{index}/data" if batch else "/data"
    message = "is nested too deeply to be stored (at most 254 levels of arrays and objects)"
    return MalformedEvent(f"{pointer} {message}", (FieldError(pointer, message),))
