"""Subscriptions: a system's standing order for events, and how they are delivered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class Filter(Protocol):
    """A CloudEvents Subscriptions API filter over the context attributes of an event."""

    def matches(self, attributes: Mapping[str, str]) -> bool: ...


class OnDeadLetter(StrEnum):
    """What happens to later events of a subject after one of its events is dead-lettered."""

    # go on delivering them (order among the delivered ones is kept; the dead letter is out of line)
    CONTINUE = "continue"
    # hold them too, in order, until the dead letters of the subject are replayed
    HOLD_SUBJECT = "hold_subject"


# The sink kind of an agency that reads its subscription's queue on Kafka itself.
KAFKA_SINK = "kafka"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential back-off with full jitter, bounded by attempts and by elapsed time."""

    max_attempts: int = 8
    max_elapsed_s: float = 60.0
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 10.0


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """A circuit breaker per sink: opens after consecutive failures, probes after a pause."""

    failure_threshold: int = 5
    reset_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True)
class SinkSpec:
    """Where a subscription delivers: ``kind`` names the adapter (``webhook``...), ``options``
    are that adapter's settings, already validated against the config schema."""

    kind: str
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Subscription:
    name: str
    system: str  # the subscribing system, "<agency code>/<system>"
    types: tuple[str, ...]  # exact event types; empty means "every type the policy lets it see"
    filters: tuple[Filter, ...]  # all must match (CloudEvents Subscriptions API semantics)
    sink: SinkSpec
    retry: RetryPolicy = RetryPolicy()
    breaker: BreakerPolicy = BreakerPolicy()
    on_dead_letter: OnDeadLetter = OnDeadLetter.CONTINUE
    batch_size: int = 1  # events per sink call; >1 sends application/cloudevents-batch+json
    critical: bool = False  # an open circuit makes the bus not ready (/readyz)

    @property
    def topic(self) -> str:
        """The delivery queue of this subscription."""
        return f"deliver.{self.name}"

    @property
    def delivered_by_bus(self) -> bool:
        """False for a Kafka-native subscriber, which reads the queue itself (docs/kafka.md)."""
        return self.sink.kind != KAFKA_SINK

    @property
    def group(self) -> str:
        """The consumer group that reads this subscription's queue: the bus's delivery, or the
        group a Kafka-native subscriber reads with (the one its lag is measured on)."""
        return f"deliver.{self.name}" if self.delivered_by_bus else f"subscriber.{self.name}"

    def wants(self, event_type: str, attributes: Mapping[str, str]) -> bool:
        if self.types and event_type not in self.types:
            return False
        return all(f.matches(attributes) for f in self.filters)
