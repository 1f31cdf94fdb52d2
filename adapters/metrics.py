"""The metrics port (:class:`router.metrics.Metrics`) on prometheus-client, and the ``/metrics`` body.

Labelled children are looked up once and cached: ``labels()`` builds a key and takes a lock on
every call, which the per-event paths (received, routed, delivered) should not pay each time.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from router.metrics import CircuitState

# Publish -> delivered: from a millisecond (a local receiver) to five minutes (a sink retried for a while).
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
)

_Child = TypeVar("_Child", Counter, Gauge, Histogram)


class _Cached(Generic[_Child]):
    """A metric's labelled children, created on first use."""

    def __init__(self, metric: _Child) -> None:
        self._metric: _Child = metric
        self._children: dict[tuple[str, ...], _Child] = {}

    def get(self, *labels: str) -> _Child:
        child = self._children.get(labels)
        if child is None:
            child = self._metric.labels(*labels)
            self._children[labels] = child
        return child

    def remove(self, *labels: str) -> None:
        if self._children.pop(labels, None) is not None:
            self._metric.remove(*labels)


class PrometheusMetrics:
    """Every metric of the bus, registered in ``registry`` (a fresh one when not given, so that
    several buses in one process, as in tests, do not collide)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._received = _Cached(
            Counter(
                "lienthong_events_received", "Events accepted for publishing.", ["type", "source"], registry=r
            )
        )
        self._rejected = _Cached(
            Counter(
                "lienthong_events_rejected",
                "Events refused at publishing, by reason (the problem code); a publish request refused "
                "before its events were checked counts once, as type unknown.",
                ["type", "source", "reason"],
                registry=r,
            )
        )
        self._routed = _Cached(
            Counter(
                "lienthong_events_routed",
                "Events put on a subscription's delivery queue.",
                ["subscription"],
                registry=r,
            )
        )
        self._attempts = _Cached(
            Counter(
                "lienthong_delivery_attempts",
                "Sink calls, by result: ok, retryable_error, permanent_error, circuit_open.",
                ["subscription", "result"],
                registry=r,
            )
        )
        self._deliveries = _Cached(
            Counter(
                "lienthong_deliveries",
                "Events finished by a subscription, by outcome: delivered or dead_lettered.",
                ["subscription", "outcome"],
                registry=r,
            )
        )
        self._latency = _Cached(
            Histogram(
                "lienthong_delivery_latency_seconds",
                "Time from publish to delivery of a delivered event (dead letters are not observed).",
                ["subscription"],
                buckets=LATENCY_BUCKETS,
                registry=r,
            )
        )
        # the last count read per subscription, and whether this process exports it
        self._dead_letter_counts: dict[str, int] = {}
        self._exports_dead_letters = True
        self._dead_letters = _Cached(
            Gauge(
                "lienthong_dead_letters",
                "Dead letters of a subscription not replayed yet.",
                ["subscription"],
                registry=r,
            )
        )
        self._lag = _Cached(
            Gauge(
                "lienthong_subscription_lag",
                "Events on a subscription's delivery queue not delivered yet.",
                ["subscription"],
                registry=r,
            )
        )
        self._circuit = _Cached(
            Gauge(
                "lienthong_sink_circuit_state",
                "The circuit breaker of a subscription's sink: 0 closed, 1 half-open, 2 open.",
                ["subscription"],
                registry=r,
            )
        )

    def event_received(self, event_type: str, source: str, count: int = 1) -> None:
        self._received.get(event_type, source).inc(count)

    def event_rejected(self, event_type: str, source: str, reason: str) -> None:
        self._rejected.get(event_type, source, reason).inc()

    def event_routed(self, subscription: str, count: int = 1) -> None:
        self._routed.get(subscription).inc(count)

    def delivery_attempt(self, subscription: str, result: str) -> None:
        self._attempts.get(subscription, result).inc()

    def delivered(self, subscription: str, outcome: str, latencies_s: list[float]) -> None:
        if not latencies_s:
            return
        self._deliveries.get(subscription, outcome).inc(len(latencies_s))
        # A dead letter's time is the retry budget it spent (configuration, not the sink's speed):
        # observed, it would push the quantiles of the delivered up. Dead letters are counted above.
        if outcome != "delivered":
            return
        histogram = self._latency.get(subscription)
        for latency in latencies_s:
            histogram.observe(latency)

    def dead_letters(self, subscription: str, current: int) -> None:
        self._dead_letter_counts[subscription] = current
        self._dead_letters.get(subscription).set(current if self._exports_dead_letters else 0)

    def export_dead_letters(self, exporting: bool) -> None:
        """Whether this process exports the dead-letter counts it reads (True by default). The
        processes of a bus sharing one dead-letter store read the same counts: one exports them,
        the others export 0, so that a sum over the processes is the deployment's count."""
        self._exports_dead_letters = exporting
        for subscription, current in self._dead_letter_counts.items():
            self._dead_letters.get(subscription).set(current if exporting else 0)

    def lag(self, subscription: str, messages: int) -> None:
        self._lag.get(subscription).set(messages)

    def circuit(self, subscription: str, state: CircuitState) -> None:
        self._circuit.get(subscription).set(int(state))

    def forget(self, subscription: str) -> None:
        """Drops the gauges of a subscription removed by a reload, so that its last lag, circuit
        and dead-letter count do not stay on (and alert) forever; its counters stay as history."""
        for gauge in (self._lag, self._circuit, self._dead_letters):
            gauge.remove(subscription)


# the text exposition format, as /metrics serves it and its OpenAPI entry says
CONTENT_TYPE = CONTENT_TYPE_LATEST


def render(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The body and Content-Type of a ``/metrics`` answer."""
    return generate_latest(registry), CONTENT_TYPE
