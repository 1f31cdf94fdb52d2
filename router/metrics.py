"""The metrics port: what the core reports. ``adapters.metrics`` implements it with
prometheus-client; :class:`NoMetrics` serves unit tests of pure logic."""

from __future__ import annotations

from enum import IntEnum
from typing import Protocol


class CircuitState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class Metrics(Protocol):
    def event_received(self, event_type: str, source: str, count: int = 1) -> None: ...

    def event_rejected(self, event_type: str, source: str, reason: str) -> None: ...

    def event_routed(self, subscription: str, count: int = 1) -> None: ...

    def delivery_attempt(self, subscription: str, result: str) -> None:
        """One sink call; ``result`` is ``ok``, ``retryable_error``, ``permanent_error`` or ``circuit_open``."""
        ...

    def delivered(self, subscription: str, outcome: str, latencies_s: list[float]) -> None:
        """Events finished; ``outcome`` is ``delivered`` or ``dead_lettered``; one latency per event
        (publish to outcome)."""
        ...

    def dead_letters(self, subscription: str, current: int) -> None: ...

    def lag(self, subscription: str, messages: int) -> None: ...

    def circuit(self, subscription: str, state: CircuitState) -> None: ...


class NoMetrics:
    def event_received(self, event_type: str, source: str, count: int = 1) -> None:
        pass

    def event_rejected(self, event_type: str, source: str, reason: str) -> None:
        pass

    def event_routed(self, subscription: str, count: int = 1) -> None:
        pass

    def delivery_attempt(self, subscription: str, result: str) -> None:
        pass

    def delivered(self, subscription: str, outcome: str, latencies_s: list[float]) -> None:
        pass

    def dead_letters(self, subscription: str, current: int) -> None:
        pass

    def lag(self, subscription: str, messages: int) -> None:
        pass

    def circuit(self, subscription: str, state: CircuitState) -> None:
        pass
