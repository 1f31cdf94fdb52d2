"""Routing: from the inbound log to the delivery queue of every subscription that wants an event.

Each routed copy carries a dedup id naming the inbound position it came from, so that routing
the same inbound messages again after a crash (they were appended but not yet committed) adds
nothing to the delivery queues: fan-out is exactly-once on transports that honour dedup ids.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Protocol

from router.envelope import attributes_of
from router.metrics import Metrics
from router.ports import Message, StoredMessage, Transport
from router.subscriptions import Subscription


class SubscribePolicy(Protocol):
    def may_subscribe(self, system_id: str, event_type: str) -> bool: ...


class Router:
    def __init__(
        self,
        subscriptions: Sequence[Subscription],
        policy: SubscribePolicy,
        transport: Transport,
        metrics: Metrics,
    ) -> None:
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

    def targets(self, event_type: str, attributes: Mapping[str, str]) -> list[Subscription]:
        """The subscriptions that receive an event: wanted by their filters and allowed by policy."""
        candidates = self._by_type.get(event_type, [])
        if self._any_type:
            candidates = candidates + self._any_type
        return [
            s
            for s in candidates
            if s.wants(event_type, attributes) and self._policy.may_subscribe(s.system, event_type)
        ]

    async def handle(self, batches: Mapping[int, Sequence[StoredMessage]]) -> None:
        """Fans the messages out, in their order, to the delivery queues; returns once durable."""
        out: dict[str, list[Message]] = defaultdict(list)
        for messages in batches.values():
            for message in messages:
                attributes = attributes_of(message.headers)
                for subscription in self.targets(attributes.get("type", ""), attributes):
                    out[subscription.topic].append(
                        Message(
                            key=message.key,
                            value=message.value,
                            headers=message.headers,
                            dedup_id=f"{message.topic}/{message.partition}/{message.offset}",
                            timestamp_ms=message.timestamp_ms,
                        )
                    )
        for topic, routed in out.items():
            await self._transport.append(topic, routed)
            self._metrics.event_routed(topic.removeprefix("deliver."), len(routed))
