"""A subscription's delivery built from its settings: the sink of its kind (a webhook, a
connector, the evidence collector; none for a Kafka-native subscriber), traced when tracing is on,
behind the delivery's retries, circuit and dead letters. The runtime builds one for every subscription at start; a reload, for the added and
changed ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from connectors.base import Connector
from lienthong.connectors import connector_sink
from lienthong.evidence import EvidenceWiring
from router.delivery import SubscriptionDelivery
from router.metrics import Metrics
from router.ports import DeadLetterStore, StoredMessage
from router.sinks import Sink, SinkError, SinkFactory
from router.subscriptions import Subscription
from router.traced_ports import TracedSink
from router.tracing import Tracer


class ReadByTheSubscriber:
    """The sink of a Kafka-native subscriber: the agency reads the queue itself and the bus runs
    no delivery for it, so a call here (a replay through the API) is refused."""

    def __init__(self, subscription: str) -> None:
        self._subscription = subscription

    async def send(self, messages: Sequence[StoredMessage], idempotency_key: str) -> None:
        raise SinkError(
            f"the subscriber of {self._subscription!r} reads its queue on Kafka itself", retryable=False
        )

    async def close(self) -> None:
        return None


class DeliveryBuilder:
    """Builds deliveries on what the running bus shares among them (fixed for its life)."""

    def __init__(
        self,
        evidence: EvidenceWiring,
        make_webhook: SinkFactory,
        tracer: Tracer | None,
        dead_letters: DeadLetterStore,
        metrics: Metrics,
    ) -> None:
        self._evidence = evidence
        self._make_webhook = make_webhook
        self._tracer = tracer
        self._dead_letters = dead_letters
        self._metrics = metrics

    def build(self, subscription: Subscription, connectors: Mapping[str, Connector]) -> SubscriptionDelivery:
        """The delivery of ``subscription``; a connector sink is one of ``connectors``."""
        sink: Sink
        if subscription.sink.kind == "evidence":
            sink = self._evidence.collector(subscription)
        elif subscription.sink.kind == "connector":
            sink = connector_sink(dict(connectors), subscription.sink)
        elif not subscription.delivered_by_bus:
            sink = ReadByTheSubscriber(subscription.name)
        else:
            sink = self._make_webhook(subscription.sink)
        if self._tracer is not None:
            sink = TracedSink(sink, self._tracer, subscription.name)
        return SubscriptionDelivery(subscription, sink, self._dead_letters, self._metrics)
