"""Fakes for the delivery unit tests: time that only moves when slept, a scripted sink, and
metrics that remember what they were told."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from router.delivery import event_id
from router.metrics import CircuitState
from router.ports import StoredMessage
from router.sinks import SinkError


class FakeTime:
    """A monotonic clock that advances only when something sleeps on it."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        # let other tasks run, as a real sleep would
        await asyncio.sleep(0)


T = TypeVar("T")

# Event loop turns that let every task woken by the clock run until it waits again (on the clock
# or on another task): far more than the few hops a wake-up takes to reach a waiting partition.
_SETTLE_TURNS = 50


class VirtualTime:
    """A monotonic clock for concurrent tasks: each sleeper wakes at its own time, and time jumps
    to the next wake-up once every task waits (:class:`FakeTime` adds up the sleeps instead, which
    only suits one task sleeping at a time).

    ``run(work)`` drives the clock until ``work`` finishes.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        wake = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, seconds), next(self._order), wake))
        await wake

    async def run(self, work: Awaitable[T]) -> T:
        task = asyncio.ensure_future(work)
        while True:
            for _ in range(_SETTLE_TURNS):
                await asyncio.sleep(0)
            if task.done():
                return task.result()
            while self._sleepers and self._sleepers[0][2].done():
                heapq.heappop(self._sleepers)  # a sleep that was cancelled
            if not self._sleepers:
                task.cancel()
                raise RuntimeError("the work waits for something other than the clock")
            self.now = max(self.now, self._sleepers[0][0])
            while self._sleepers and self._sleepers[0][0] <= self.now:
                _, _, wake = heapq.heappop(self._sleepers)
                if not wake.done():
                    wake.set_result(None)


def unavailable(retry_after_s: float | None = None) -> SinkError:
    return SinkError("HTTP 503 Service Unavailable", retryable=True, status=503, retry_after_s=retry_after_s)


def rejected() -> SinkError:
    return SinkError("HTTP 400 Bad Request: no such dossier", retryable=False, status=400)


Behaviour = Callable[[Sequence[StoredMessage], int], Awaitable[None] | None]


@dataclass
class Call:
    ids: tuple[str, ...]
    key: str


@dataclass
class ScriptedSink:
    """Answers each call with ``behaviour(messages, call_number)``: raise to fail, return to accept.

    ``delivered`` lists the ids of accepted events in the order the sink took them.
    """

    behaviour: Behaviour | None = None
    calls: list[Call] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)
    closed: bool = False

    async def send(self, messages: Sequence[StoredMessage], idempotency_key: str) -> None:
        self.calls.append(Call(tuple(event_id(m) for m in messages), idempotency_key))
        if self.behaviour is not None:
            outcome = self.behaviour(messages, len(self.calls))
            if outcome is not None:
                await outcome
        self.delivered.extend(event_id(m) for m in messages)

    async def close(self) -> None:
        self.closed = True

    def attempts_of(self, event: str) -> int:
        return sum(1 for call in self.calls if event in call.ids)


def fail_times(failures: dict[str, int], error: Callable[[], SinkError] = unavailable) -> Behaviour:
    """Fails calls holding one of these event ids, that many times each, then accepts them."""
    left = dict(failures)

    def behaviour(messages: Sequence[StoredMessage], _: int) -> None:
        for message in messages:
            eid = event_id(message)
            if left.get(eid, 0) > 0:
                left[eid] -= 1
                raise error()

    return behaviour


def always(error: Callable[[], SinkError], when: Callable[[str], bool] = lambda _: True) -> Behaviour:
    def behaviour(messages: Sequence[StoredMessage], _: int) -> None:
        if any(when(event_id(m)) for m in messages):
            raise error()

    return behaviour


@dataclass
class RecordingMetrics:
    attempts: list[tuple[str, str]] = field(default_factory=list)
    outcomes: list[tuple[str, str, list[float]]] = field(default_factory=list)
    dead_letter_counts: list[tuple[str, int]] = field(default_factory=list)
    circuits: list[tuple[str, CircuitState]] = field(default_factory=list)

    def event_received(self, event_type: str, source: str, count: int = 1) -> None:
        pass

    def event_rejected(self, event_type: str, source: str, reason: str) -> None:
        pass

    def event_routed(self, subscription: str, count: int = 1) -> None:
        pass

    def delivery_attempt(self, subscription: str, result: str) -> None:
        self.attempts.append((subscription, result))

    def delivered(self, subscription: str, outcome: str, latencies_s: list[float]) -> None:
        self.outcomes.append((subscription, outcome, latencies_s))

    def dead_letters(self, subscription: str, current: int) -> None:
        self.dead_letter_counts.append((subscription, current))

    def lag(self, subscription: str, messages: int) -> None:
        pass

    def circuit(self, subscription: str, state: CircuitState) -> None:
        self.circuits.append((subscription, state))

    def results(self) -> list[str]:
        return [result for _, result in self.attempts]

    def count(self, outcome: str) -> int:
        return sum(len(latencies) for _, o, latencies in self.outcomes if o == outcome)
