"""A subscription's delivery built from its settings: the sink of its kind (a webhook, a connector
or the evidence collector), traced when tracing is on, behind the delivery's retries, circuit and
dead letters. The runtime builds one for every subscription at start; a reload, for the added and
changed ones."""

from __future__ import annotations

from collections.abc import Mapping

from connectors.base import Connector
from lienthong.connectors import connector_sink
from lienthong.evidence import EvidenceWiring
from router.delivery import SubscriptionDelivery
from router.metrics import Metrics
from router.ports import DeadLetterStore
from router.sinks import Sink, SinkFactory
from router.subscriptions import Subscription
from router.traced_ports import TracedSink
from router.tracing import Tracer


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
        else:
            sink = self._make_webhook(subscription.sink)
        if self._tracer is not None:
            sink = TracedSink(sink, self._tracer, subscription.name)
        return SubscriptionDelivery(subscription, sink, self._dead_letters, self._metrics)
