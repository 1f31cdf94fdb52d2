"""The rule of the limits per caller (GCRA), on an injected clock: a burst of ``requests``, then
one per interval; a request refused is not counted; the wait it is told is exact."""

from __future__ import annotations

import pytest

from router.rate_limits import (
    CallerLimiter,
    Limits,
    LocalRateStore,
    Rate,
    RateLimited,
    RouteClass,
    gcra,
    wait_s,
)

PER_MINUTE_6 = Rate(6, 60.0)  # a burst of 6, then one every 10 s


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_requests_then_one_per_interval() -> None:
    tat = None
    admitted = []
    for _ in range(8):
        verdict = gcra(PER_MINUTE_6, tat, 0.0)
        admitted.append(verdict.admitted)
        tat = verdict.tat
    assert admitted == [True] * 6 + [False, False]
    assert gcra(PER_MINUTE_6, tat, 0.0).retry_after_s == pytest.approx(10.0)
    assert not gcra(PER_MINUTE_6, tat, 9.9).admitted
    assert gcra(PER_MINUTE_6, tat, 10.0).admitted


def test_one_request_per_period_is_admitted_exactly_once() -> None:
    """Float sums (now + 3600 - 3600) must not refuse the first request of a rate of one."""
    once = Rate(1, 3600.0)
    for now in (0.1, 1234.567, 98765.4321):
        first = gcra(once, None, now)
        assert first.admitted
        second = gcra(once, first.tat, now)
        assert not second.admitted and second.retry_after_s == pytest.approx(3600.0)


def test_wait_counts_nothing() -> None:
    assert wait_s(PER_MINUTE_6, None, 0.0) == 0.0
    full = 60.0  # a TAT a whole period ahead: the burst is spent
    assert wait_s(PER_MINUTE_6, full, 0.0) == pytest.approx(10.0)
    assert wait_s(PER_MINUTE_6, full, 10.0) == 0.0


async def test_the_store_refills_with_time_and_does_not_count_refusals() -> None:
    clock = Clock()
    store = LocalRateStore(clock)
    assert [await store.take("k", Rate(2, 10.0)) for _ in range(3)] == [0.0, 0.0, pytest.approx(5.0)]
    clock.now += 4.0
    assert await store.take("k", Rate(2, 10.0)) == pytest.approx(1.0)  # the refusal took nothing
    clock.now += 1.0
    assert await store.take("k", Rate(2, 10.0)) == 0.0
    assert await store.take("other", Rate(2, 10.0)) == 0.0  # keys are apart


async def test_the_store_is_bounded_dropping_full_buckets_first() -> None:
    clock = Clock()
    store = LocalRateStore(clock, max_keys=3)
    for key in ("a", "b", "c"):
        await store.take(key, Rate(1, 10.0))
    clock.now += 20.0  # a, b, c full again
    await store.take("d", Rate(1, 100.0))
    await store.take("e", Rate(1, 100.0))
    assert len(store) <= 3
    assert await store.wait("d", Rate(1, 100.0)) > 0  # the spent ones kept


async def test_a_system_has_its_class_limit_or_its_own() -> None:
    clock = Clock()
    limits = Limits(
        classes={RouteClass.DEFAULT: Rate(100, 60.0), RouteClass.EVIDENCE: Rate(2, 60.0)},
        systems={"A/own": {RouteClass.EVIDENCE: Rate(1, 60.0)}},
    )
    limiter = CallerLimiter(LocalRateStore(clock), lambda: limits)
    for _ in range(2):
        await limiter.system("A/other", RouteClass.EVIDENCE)
    with pytest.raises(RateLimited) as refused:
        await limiter.system("A/other", RouteClass.EVIDENCE)
    assert refused.value.status == 429 and refused.value.retry_after_s == pytest.approx(30.0)
    await limiter.system("A/other", RouteClass.PUBLISH)  # another class: the default's
    await limiter.system("A/own", RouteClass.EVIDENCE)
    with pytest.raises(RateLimited):
        await limiter.system("A/own", RouteClass.EVIDENCE)


async def test_failed_authentications_of_an_address_block_its_keyless_requests() -> None:
    clock = Clock()
    limits = Limits(failed_authentication=Rate(3, 60.0))
    limiter = CallerLimiter(LocalRateStore(clock), lambda: limits)
    for _ in range(3):
        await limiter.address("192.0.2.1", RouteClass.DEFAULT)
        await limiter.failed_authentication("192.0.2.1")
    with pytest.raises(RateLimited) as refused:
        await limiter.address("192.0.2.1", RouteClass.DEFAULT)
    assert refused.value.retry_after_s == pytest.approx(20.0)
    await limiter.address("192.0.2.2", RouteClass.DEFAULT)  # another address
    clock.now += 20.0
    await limiter.address("192.0.2.1", RouteClass.DEFAULT)
