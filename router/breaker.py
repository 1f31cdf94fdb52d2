"""A circuit breaker: stop calling a sink that keeps failing, and try it again after a pause.

States (:class:`router.metrics.CircuitState`):

- CLOSED: calls go through; ``failure_threshold`` consecutive failures open the circuit.
- OPEN: no calls; after ``reset_timeout_s`` the next caller gets the single probe (HALF_OPEN).
- HALF_OPEN: one probe call in flight; its success closes the circuit, its failure opens it again.

A caller whose own time is up before the pause ends (its retry budget's deadline) may ask for
a last chance (:meth:`CircuitBreaker.acquire_last_chance`): the circuit half-opens early for it.
That is still the single probe: while a probe is in flight, nobody else gets one. Without it, a
sink down for longer than ``reset_timeout_s`` but shorter than the retry budget would have its
events dead-lettered at the budget's end without one more try.

Callers take a :class:`Permit` before a call and report its outcome with it. Each permit remembers
the breaker's generation (bumped at every state change), so the outcome of a call that started
before the circuit changed state (several partitions call one sink concurrently) cannot close or
reopen it by accident: only outcomes of the current generation count.

Pure logic with an injectable clock: no I/O, no sleeping (the caller decides how to wait).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from router.metrics import CircuitState
from router.subscriptions import BreakerPolicy

Clock = Callable[[], float]
StateListener = Callable[[CircuitState], None]


@dataclass(frozen=True, slots=True)
class Permit:
    """Leave to make one call; ``probe`` when it is the half-open circuit's single trial call."""

    generation: int
    probe: bool


class CircuitBreaker:
    def __init__(
        self,
        policy: BreakerPolicy,
        *,
        clock: Clock = time.monotonic,
        on_change: StateListener | None = None,
    ) -> None:
        if policy.failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self._threshold = policy.failure_threshold
        self._reset_timeout_s = policy.reset_timeout_s
        self._clock = clock
        self._on_change = on_change
        self._state = CircuitState.CLOSED
        self._generation = 0
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> CircuitState:
        """The current state (an open circuit whose pause is over reads as half-open)."""
        self._half_open_if_due()
        return self._state

    def acquire(self) -> Permit | None:
        """A permit for one call now, or ``None`` while the circuit refuses calls."""
        self._half_open_if_due()
        if self._state is CircuitState.CLOSED:
            return Permit(self._generation, probe=False)
        if self._state is CircuitState.HALF_OPEN and not self._probe_in_flight:
            self._probe_in_flight = True
            return Permit(self._generation, probe=True)
        return None

    def acquire_last_chance(self) -> Permit | None:
        """A permit for a caller that cannot wait for the pause to end: an open circuit half-opens
        now and the caller gets its probe. ``None`` while another probe is in flight."""
        self._half_open_if_due()
        if self._state is CircuitState.OPEN:
            self._move(CircuitState.HALF_OPEN)
        return self.acquire()

    def retry_in(self) -> float | None:
        """Seconds until :meth:`acquire` may give a permit: 0 if now, ``None`` if that depends on
        the outcome of the probe in flight."""
        self._half_open_if_due()
        if self._state is CircuitState.OPEN:
            return max(0.0, self._opened_at + self._reset_timeout_s - self._clock())
        if self._state is CircuitState.HALF_OPEN and self._probe_in_flight:
            return None
        return 0.0

    def success(self, permit: Permit) -> None:
        if permit.generation != self._generation:
            return
        if permit.probe:
            self._probe_in_flight = False
            self._move(CircuitState.CLOSED)
        self._failures = 0

    def failure(self, permit: Permit) -> None:
        if permit.generation != self._generation:
            return
        if permit.probe:
            self._probe_in_flight = False
            self._open()
            return
        self._failures += 1
        if self._failures >= self._threshold:
            self._open()

    def release(self, permit: Permit) -> None:
        """The call ended without an outcome (it was cancelled): a probe slot is given back."""
        if permit.probe and permit.generation == self._generation:
            self._probe_in_flight = False

    def _open(self) -> None:
        self._opened_at = self._clock()
        self._move(CircuitState.OPEN)

    def _half_open_if_due(self) -> None:
        if self._state is CircuitState.OPEN and self._clock() >= self._opened_at + self._reset_timeout_s:
            self._move(CircuitState.HALF_OPEN)

    def _move(self, state: CircuitState) -> None:
        self._generation += 1
        self._failures = 0
        if state is self._state:
            return
        self._state = state
        if self._on_change is not None:
            self._on_change(state)
