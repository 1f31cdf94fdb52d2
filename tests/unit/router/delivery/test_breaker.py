"""The circuit breaker's state machine, on a fake clock."""

from __future__ import annotations

import pytest

from router.breaker import CircuitBreaker
from router.metrics import CircuitState
from router.subscriptions import BreakerPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breaker(threshold: int = 3, reset: float = 10.0) -> tuple[CircuitBreaker, Clock, list[CircuitState]]:
    clock = Clock()
    changes: list[CircuitState] = []
    return (
        CircuitBreaker(BreakerPolicy(threshold, reset), clock=clock, on_change=changes.append),
        clock,
        changes,
    )


def fail(b: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        permit = b.acquire()
        assert permit is not None
        b.failure(permit)


def test_stays_closed_below_the_threshold_and_a_success_resets_the_count() -> None:
    b, _, changes = breaker(threshold=3)
    fail(b, 2)
    permit = b.acquire()
    assert permit is not None
    b.success(permit)
    fail(b, 2)
    assert b.state is CircuitState.CLOSED
    assert changes == []


def test_opens_after_consecutive_failures_and_refuses_calls_until_the_pause_is_over() -> None:
    b, clock, changes = breaker(threshold=3, reset=10.0)
    fail(b, 3)
    assert b.state is CircuitState.OPEN
    assert changes == [CircuitState.OPEN]
    assert b.acquire() is None
    clock.now += 4
    assert b.retry_in() == pytest.approx(6.0)
    assert b.acquire() is None


def test_half_open_grants_a_single_probe() -> None:
    b, clock, changes = breaker(threshold=1, reset=10.0)
    fail(b, 1)
    clock.now += 10
    assert b.state is CircuitState.HALF_OPEN
    probe = b.acquire()
    assert probe is not None and probe.probe
    assert b.acquire() is None
    assert b.retry_in() is None  # depends on the probe
    assert changes == [CircuitState.OPEN, CircuitState.HALF_OPEN]


def test_a_successful_probe_closes_the_circuit() -> None:
    b, clock, changes = breaker(threshold=1, reset=10.0)
    fail(b, 1)
    clock.now += 10
    probe = b.acquire()
    assert probe is not None
    b.success(probe)
    assert b.state is CircuitState.CLOSED
    assert b.acquire() is not None
    assert changes == [CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED]


def test_a_failed_probe_opens_the_circuit_for_a_new_pause() -> None:
    b, clock, changes = breaker(threshold=1, reset=10.0)
    fail(b, 1)
    clock.now += 10
    probe = b.acquire()
    assert probe is not None
    b.failure(probe)
    assert b.state is CircuitState.OPEN
    assert b.retry_in() == pytest.approx(10.0)
    clock.now += 9.9
    assert b.acquire() is None
    assert changes == [CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.OPEN]


def test_a_released_probe_gives_its_slot_back() -> None:
    b, clock, _ = breaker(threshold=1, reset=10.0)
    fail(b, 1)
    clock.now += 10
    probe = b.acquire()
    assert probe is not None
    b.release(probe)
    assert b.state is CircuitState.HALF_OPEN
    again = b.acquire()
    assert again is not None and again.probe


def test_outcomes_of_calls_started_before_a_state_change_are_ignored() -> None:
    b, clock, _ = breaker(threshold=2, reset=10.0)
    early = b.acquire()
    assert early is not None
    fail(b, 2)  # opens while `early` is still in flight
    b.success(early)  # a late success does not close an open circuit
    assert b.state is CircuitState.OPEN
    clock.now += 10
    probe = b.acquire()
    assert probe is not None
    b.failure(early)  # a late failure does not reopen a half-open circuit
    assert b.state is CircuitState.HALF_OPEN
    b.success(probe)
    assert b.state is CircuitState.CLOSED


def test_a_last_chance_half_opens_an_open_circuit_early_for_a_single_probe() -> None:
    b, clock, changes = breaker(threshold=1, reset=10.0)
    fail(b, 1)
    clock.now += 4
    assert b.acquire() is None
    last = b.acquire_last_chance()
    assert last is not None and last.probe
    assert b.state is CircuitState.HALF_OPEN
    assert b.acquire() is None and b.acquire_last_chance() is None  # one probe at a time
    assert b.retry_in() is None
    b.success(last)
    assert b.state is CircuitState.CLOSED
    assert changes == [CircuitState.OPEN, CircuitState.HALF_OPEN, CircuitState.CLOSED]


def test_a_failed_last_chance_opens_the_circuit_for_a_whole_new_pause() -> None:
    b, clock, _ = breaker(threshold=1, reset=10.0)
    fail(b, 1)
    clock.now += 4
    last = b.acquire_last_chance()
    assert last is not None
    b.failure(last)
    assert b.state is CircuitState.OPEN
    assert b.retry_in() == pytest.approx(10.0)


def test_a_last_chance_on_a_closed_circuit_is_an_ordinary_permit() -> None:
    b, _, changes = breaker()
    permit = b.acquire_last_chance()
    assert permit is not None and not permit.probe
    assert changes == []


def test_a_threshold_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(BreakerPolicy(failure_threshold=0))
