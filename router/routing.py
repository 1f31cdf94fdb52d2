"""Routing: from the inbound log to the delivery queue of every subscription that wants an event.

In the loop, each routed copy carries a dedup id naming the inbound position it came from, so that routing
the same inbound messages again after a crash (they were appended but not yet committed) adds
nothing to the delivery queues: fan-out is exactly-once on transports that honour dedup ids.

On Kafka, agencies may produce CloudEvents straight into the inbound topic, bypassing the HTTP
API, so the router checks every inbound message again (:class:`InboundChecks`: the same checks
as publishing, plus "the source is a known system") and appends the invalid ones, with the
reason in headers, to the dead-letter topic ``deadletter.inbound`` instead of routing them; the
partition goes on. On the embedded log only the bus's publisher writes the inbound topic, after
the very same checks, and it routes as it appends (:meth:`Router.at_publish`): the log writes an
event and its routed copies in one transaction, so no copy needs a dedup id of its own and no
loop reads the inbound topic back (it runs once at start, for a backlog a bus that routed in a
loop may have left).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from typing import Protocol

import orjson

from router import tracing
from router.envelope import (
    AttributeValue,
    CloudEvent,
    attributes_of,
    both_attributes_of,
    from_attributes,
    to_message,
    typed_attributes_of,
)
from router.errors import FieldError, Forbidden, LienthongError, MalformedEvent
from router.metrics import Metrics
from router.ports import AppendResult, Headers, Message, Routed, StoredMessage, Transport
from router.publishing import EventChecks
from router.received import RECEIVED_AT_HEADER, stamped
from router.recipients import RecipientOnly
from router.subscriptions import Subscription

log = logging.getLogger("lienthong.router")

# Where the router puts the inbound messages that fail the checks (on transports that check).
INBOUND_DEAD_LETTERS = "deadletter.inbound"
# The headers a dead-lettered inbound message gets, on top of its own.
ERROR_CODE = "lienthong_error_code"
ERROR_DETAIL = "lienthong_error_detail"
ERROR_POINTER = "lienthong_error_pointer"
ORIGINAL_TOPIC = "lienthong_original_topic"
ORIGINAL_PARTITION = "lienthong_original_partition"
ORIGINAL_OFFSET = "lienthong_original_offset"
# Bounds the detail header: it quotes producer input.
MAX_DETAIL_BYTES = 1024
# Bounds the router's cache of the subscriptions of each event type.
MAX_CACHED_TYPES = 4096
# How long the router's appends wait for a log out of reach (a broker restarting) before its batch
# fails: failing sooner only means fetching the batch again and appending again what was durable.
ROUTE_RETRY_S = 300.0

# Appends the messages (by topic) of one inbound partition and commits its next offset, together
# or not at all (the Kafka transport's transactional routing, KafkaConsumer.append_and_commit).
AtomicCommit = Callable[[int, Mapping[str, Sequence[Message]], int], Awaitable[None]]


class SubscribePolicy(Protocol):
    def may_subscribe(self, system_id: str, event_type: str) -> bool: ...


class Systems(Protocol):
    def __contains__(self, system_id: object) -> bool: ...


# The headers InboundChecks.check replaces, as it adds a trace, a time of arrival or both.
_TRACE = frozenset((tracing.KAFKA_HEADER,))
_ARRIVAL = frozenset((RECEIVED_AT_HEADER,))
_TRACE_AND_ARRIVAL = _TRACE | _ARRIVAL


class InboundChecks:
    """The checks of an inbound message that did not necessarily come through the HTTP API."""

    def __init__(self, systems: Systems, checks: EventChecks) -> None:
        self._systems = systems
        self._checks = checks

    def knows(self, system_id: str) -> bool:
        return system_id in self._systems

    def label(self, event_type: str) -> str:
        """``event_type`` as a metric label (``unknown`` unless registered)."""
        return self._checks.label(event_type)

    def check(
        self,
        message: StoredMessage,
        attributes: dict[str, str],
        typed: Mapping[str, AttributeValue] | None = None,
        received_ms: int | None = None,
    ) -> LienthongError | Message:
        """The error of the message, or the message to route (completed as the HTTP API would:
        ``dataschema`` resolved, ``subject`` from the data, keyed by subject, a trace started when
        it has none; its dedup id names its inbound position, its timestamp is the inbound
        message's; with ``received_ms``, stamped with that time of arrival: router.received).

        ``attributes`` are the message's (``attributes_of(message.headers)``) and ``typed`` its
        typed ones (``typed_attributes_of``), computed once by the caller
        (:func:`~router.envelope.both_attributes_of`); a valid message's ``dataschema`` and
        ``subject`` are set in ``attributes``.
        """
        try:
            data = orjson.loads(message.value) if message.value else None
            # typed, so that an event rebuilt below keeps its boolean and integer extensions
            event = from_attributes(typed_attributes_of(message.headers) if typed is None else typed, data)
        except orjson.JSONDecodeError:
            return MalformedEvent(
                "the message value is not JSON", (FieldError("/data", "the message value is not JSON"),)
            )
        except LienthongError as error:
            return error
        if event.source not in self._systems:
            return Forbidden(
                f"'{event.source}' is not a system of the directory",
                (FieldError("/source", "must be a system of the directory"),),
            )
        subject = event.subject
        problem, ref = self._checks.check(event)
        if problem is not None:
            return problem
        # The headers to add, each replacing any of its name: a trace when the producer on Kafka
        # gave no valid one (as the HTTP API starts one), the schema resolved, the time of arrival.
        added: list[tuple[str, bytes]] = []
        replaced: frozenset[str] = frozenset()
        own = event.extensions.get(tracing.ATTRIBUTE)
        if not isinstance(own, str) or tracing.parse(own) is None:
            traceparent = tracing.new_traceparent()
            event.extensions[tracing.ATTRIBUTE] = traceparent
            added.append((tracing.KAFKA_HEADER, traceparent.encode("ascii")))
            replaced = _TRACE
        if event.dataschema is None:  # so the message has no ce_dataschema (it would not be empty)
            attributes["dataschema"] = event.dataschema = ref.id
            added.append(("ce_dataschema", ref.id.encode()))
        if received_ms is not None:
            added.append((RECEIVED_AT_HEADER, str(received_ms).encode("ascii")))
            replaced = _TRACE_AND_ARRIVAL if replaced else _ARRIVAL
        position = f"{message.topic}/{message.partition}/{message.offset}"
        if event.subject == subject and message.key == event.key:
            kept = [h for h in message.headers if h[0] not in replaced] if replaced else list(message.headers)
            kept += added
            return Message(message.key, message.value, tuple(kept), position, message.timestamp_ms)
        # the subject came from the data, or the producer keyed otherwise: key by subject
        if event.subject is not None:
            attributes["subject"] = event.subject
        rebuilt = to_message(event, message.value)
        headers = rebuilt.headers if received_ms is None else stamped(rebuilt.headers, received_ms)
        return Message(rebuilt.key, rebuilt.value, headers, position, message.timestamp_ms)


def _rejected(message: StoredMessage, error: LienthongError) -> Message:
    pointer = error.errors[0].pointer if error.errors else ""
    detail = error.detail.encode("utf-8", "replace")[:MAX_DETAIL_BYTES]
    headers: Headers = (
        *message.headers,
        (ERROR_CODE, error.code.encode()),
        (ERROR_DETAIL, detail),
        (ERROR_POINTER, pointer.encode("utf-8", "replace")),
        (ORIGINAL_TOPIC, message.topic.encode()),
        (ORIGINAL_PARTITION, str(message.partition).encode()),
        (ORIGINAL_OFFSET, str(message.offset).encode()),
    )
    return Message(
        key=message.key,
        value=message.value,
        headers=headers,
        dedup_id=f"{message.topic}/{message.partition}/{message.offset}",
        timestamp_ms=message.timestamp_ms,
    )


class Router:
    def __init__(
        self,
        subscriptions: Sequence[Subscription],
        policy: SubscribePolicy,
        transport: Transport,
        metrics: Metrics,
        inbound_checks: InboundChecks | None = None,
        *,
        released_types: Collection[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``released_types``: the types whose events carry released personal data (the
        contracts' ``released_personal_data``), delivered to their recipient only."""
        self._inbound_checks = inbound_checks
        self._recipient_only = RecipientOnly(released_types)
        # stamps when a message reached the bus (router.received): a checked (Kafka) message when
        # the router reads it, a published one at publish (at_publish)
        self._clock = clock
        self._transport = transport
        self._metrics = metrics
        self._policy = policy
        # Subscriptions that name their types are found by type; the others see every type.
        self._by_type: dict[str, list[Subscription]] = defaultdict(list)
        self._any_type: list[Subscription] = []
        for subscription in subscriptions:
            if subscription.types:
                for event_type in subscription.types:
                    self._by_type[event_type].append(subscription)
            else:
                self._any_type.append(subscription)
        # Per event type, the subscriptions that want the type and may see it, with their topic,
        # and whether any has filters to match per event: none of it changes while this router
        # lives (a reload builds a new router). Bounded, as types come from producers.
        self._by_type_allowed: dict[str, tuple[list[tuple[Subscription, str]], bool]] = {}

    def targets(self, event_type: str, attributes: Mapping[str, str]) -> list[Subscription]:
        """The subscriptions that receive an event: wanted by their filters and allowed by policy."""
        return [s for s, _ in self._targets(event_type, attributes)]

    def _targets(self, event_type: str, attributes: Mapping[str, str]) -> Sequence[tuple[Subscription, str]]:
        """:meth:`targets` with the topic of each (not to be modified: may be the cached list)."""
        cached = self._by_type_allowed.get(event_type)
        if cached is None:
            candidates = self._by_type.get(event_type, []) + self._any_type
            allowed = [
                (s, s.topic)
                for s in candidates
                if (not s.types or event_type in s.types) and self._policy.may_subscribe(s.system, event_type)
            ]
            if len(self._by_type_allowed) >= MAX_CACHED_TYPES:
                self._by_type_allowed.clear()
            cached = self._by_type_allowed[event_type] = (allowed, any(s.filters for s, _ in allowed))
        allowed, filtered = cached
        if self._recipient_only.applies(event_type, attributes):
            allowed = self._recipient_only.narrow(event_type, attributes, allowed)
        if not filtered:
            return allowed
        return [(s, topic) for s, topic in allowed if not s.filters or s.wants(event_type, attributes)]

    async def handle(self, batches: Mapping[int, Sequence[StoredMessage]]) -> None:
        """Fans the messages out, in their order, to the delivery queues; returns once durable."""
        out = self._fan_out(batches.values())
        for topic, routed in out.items():
            await self._transport.append(topic, routed, retry_for_s=ROUTE_RETRY_S)
            self._count(topic, routed)

    async def handle_atomically(
        self, batches: Mapping[int, Sequence[StoredMessage]], commit: AtomicCommit
    ) -> None:
        """Fans out each partition's messages and hands them, with the partition's next offset, to
        ``commit``, which makes both durable together (a Kafka transaction): the partitions side
        by side. One that fails raises after the others are done; those stay committed."""

        async def route(partition: int, messages: Sequence[StoredMessage]) -> None:
            out = self._fan_out((messages,))
            await commit(partition, out, messages[-1].offset + 1)
            for topic, routed in out.items():
                self._count(topic, routed)

        outcomes = await asyncio.gather(
            *(route(partition, messages) for partition, messages in batches.items() if messages),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    def at_publish(self, published: Sequence[tuple[CloudEvent, Message]]) -> list[Routed | None]:
        """Routing at publish (a transport that appends a published event with its routed copies,
        :class:`router.ports.RoutingLog`): per event (checked by the publisher) and its message,
        where its copy goes, or None when no subscription receives it. The copy is the message
        stamped with the publish's time on the router's clock (router.received); it
        carries no dedup id of its own: it is appended in the transaction of its published message,
        whose dedup id keeps a retried publish from routing it again."""
        stamp: Headers = ((RECEIVED_AT_HEADER, str(int(self._clock() * 1000)).encode("ascii")),)
        # where the events of a type go when no attribute of theirs matters (no filter, not
        # addressed): the same for every such event of the call
        by_type: dict[str, Routed | None] = {}
        out: list[Routed | None] = []
        for event, message in published:
            event_type = event.type
            if event_type in by_type and not self._recipient_only.addressed(event):
                out.append(by_type[event_type])
                continue
            targets = self._targets(event_type, attributes_of(message.headers))
            routed = Routed(stamp, tuple(topic for _, topic in targets)) if targets else None
            if not self._by_type_allowed[event_type][1] and not self._recipient_only.addressed(event):
                by_type[event_type] = routed
            out.append(routed)
        return out

    def count_routed(self, routed: Sequence[Routed | None], results: Sequence[AppendResult]) -> None:
        """Counts the copies of :meth:`at_publish` that were appended (not those of duplicates)."""
        counts: dict[str, int] = defaultdict(int)
        for copy, result in zip(routed, results, strict=True):
            if copy is not None and not result.duplicate:
                for topic in copy.topics:
                    counts[topic] += 1
        for topic, count in counts.items():
            self._metrics.event_routed(topic.removeprefix("deliver."), count)

    def _count(self, topic: str, routed: Sequence[Message]) -> None:
        if topic != INBOUND_DEAD_LETTERS:
            self._metrics.event_routed(topic.removeprefix("deliver."), len(routed))

    def _fan_out(self, batches: Iterable[Sequence[StoredMessage]]) -> dict[str, list[Message]]:
        """The messages to append, by topic: the routed copies, and the rejected messages under
        :data:`INBOUND_DEAD_LETTERS` (first, when there are any)."""
        out: dict[str, list[Message]] = defaultdict(list)
        rejected: list[Message] = []
        checks = self._inbound_checks
        # the bus's time of arrival (router.received): on Kafka the producer chose the record's
        # timestamp, so the router's clock now; on the embedded log the log's clock at append
        consumed_ms = int(self._clock() * 1000) if checks is not None else 0
        for messages in batches:
            for message in messages:
                if checks is not None:
                    # the headers decoded once for the checks and the routing (a Kafka producer's)
                    attributes, typed = both_attributes_of(message.headers)
                    verdict = checks.check(message, attributes, typed, consumed_ms)
                    if isinstance(verdict, LienthongError):
                        rejected.append(_rejected(message, verdict))
                        self._reject(message, verdict)
                        continue
                    for _, topic in self._targets(attributes.get("type", ""), attributes):
                        out[topic].append(verdict)
                    continue
                attributes = attributes_of(message.headers)
                targets = self._targets(attributes.get("type", ""), attributes)
                if not targets:
                    continue
                outgoing = Message(
                    key=message.key,
                    value=message.value,
                    headers=stamped(message.headers, message.timestamp_ms),
                    dedup_id=f"{message.topic}/{message.partition}/{message.offset}",
                    timestamp_ms=message.timestamp_ms,
                )
                # one (immutable) message for every target: only the topic differs
                for _, topic in targets:
                    out[topic].append(outgoing)
        if rejected:
            return {INBOUND_DEAD_LETTERS: rejected, **out}
        return out

    def _reject(self, message: StoredMessage, error: LienthongError) -> None:
        log.warning(
            "inbound event refused (%s): %s", error.code, error.detail, extra=tracing.log_fields(message)
        )
        # Metric labels come from producer input here: only a registered type and a known source
        # are named, so a hostile producer cannot mint series.
        attributes = attributes_of(message.headers)
        checks = self._inbound_checks
        event_type = checks.label(attributes.get("type", "")) if checks is not None else "unknown"
        source = attributes.get("source", "")
        known = checks is not None and checks.knows(source)
        self._metrics.event_rejected(event_type, source if known else "unknown", error.code)
