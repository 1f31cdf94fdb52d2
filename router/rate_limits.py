"""Limits per caller: how many requests a system (or, without a valid key, a client address) may
make per route class, and the rule that decides whether one more is within its limit.

The rule is the generic cell rate algorithm (GCRA), a token bucket kept as one number per key:
the *theoretical arrival time* (TAT), the moment at which the bucket would be full again. A rate
of ``requests`` per ``per_s`` seconds admits ``requests`` at once (the burst) and then one every
``per_s / requests`` seconds. One number per key is what a shared store (a database row, a key in
a cache) updates atomically, so the same rule serves one process and several replicas.

No I/O here: the store of the numbers is the :class:`RateStore` port; the in-process one is
:class:`LocalRateStore`, with the clock passed in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from router.errors import LienthongError

Clock = Callable[[], float]
TOLERANCE_S = 1e-6  # float rounding of the sums, not a request early: a microsecond


class RouteClass(StrEnum):
    """The kinds of request limited separately."""

    PUBLISH = "publish"
    EVIDENCE = "evidence"
    ACCESS_LOG = "access_log"
    CONSOLE_LOGIN = "console_login"
    DEFAULT = "default"


# why a request was refused 429: a system over its limit, an address (no valid key) over its limit,
# an address whose failed authentications are spent
SYSTEM_LIMIT = "system_limit"
ADDRESS_LIMIT = "address_limit"
FAILED_AUTHENTICATIONS = "failed_authentications"
REASONS = (SYSTEM_LIMIT, ADDRESS_LIMIT, FAILED_AUTHENTICATIONS)


class RateLimited(LienthongError):
    """The caller made more requests of this kind than its limit allows; ``Retry-After`` says
    when one more is admitted. Nothing was done."""

    code = "rate_limited"
    status = 429
    title = "Too many requests"

    def __init__(self, detail: str, retry_after_s: float, reason: str) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
        self.reason = reason  # which limit: one of REASONS, a label of the metric that counts them


@dataclass(frozen=True, slots=True)
class Rate:
    """``requests`` per ``per_s`` seconds, ``requests`` of them at once."""

    requests: int
    per_s: float

    @property
    def interval_s(self) -> float:
        return self.per_s / self.requests

    def describe(self) -> str:
        return f"{self.requests} per {self.per_s:g}s"


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a request is admitted, the key's TAT after it, and when one would be if not."""

    admitted: bool
    tat: float
    retry_after_s: float


def gcra(rate: Rate, tat: float | None, now: float) -> Verdict:
    """The decision on one request at ``now`` for a key whose TAT is ``tat`` (None: never seen)."""
    start = now if tat is None or tat < now else tat
    early = _early(rate, start, now)
    if early > 0:
        return Verdict(False, start, early)
    return Verdict(True, start + rate.interval_s, 0.0)


def wait_s(rate: Rate, tat: float | None, now: float) -> float:
    """Seconds until a request would be admitted, without counting one (0.0: now)."""
    return 0.0 if tat is None else max(0.0, _early(rate, tat, now))


def _early(rate: Rate, tat: float, now: float) -> float:
    """How far ahead of its burst a request at ``now`` is (<= 0: within it). The burst tolerance is
    ``requests - 1`` intervals; a rounding error of the float sums is not a request too many."""
    early = tat - now - (rate.per_s - rate.interval_s)
    return early if early > TOLERANCE_S else 0.0


class RateStore(Protocol):
    """Where the TAT of each key lives. In one process, :class:`LocalRateStore`; across replicas,
    a shared store (a database row per key, updated in one statement) that applies :func:`gcra`
    atomically."""

    async def take(self, key: str, rate: Rate) -> float:
        """Counts one request of ``key``: 0.0 when admitted, else the seconds until one would be
        (the request is then not counted)."""
        ...

    async def wait(self, key: str, rate: Rate) -> float:
        """The seconds until a request of ``key`` would be admitted, counting none."""
        ...


class LocalRateStore:
    """The TATs in a dict of this process. Bounded: past ``max_keys`` the keys whose bucket is
    full again (TAT in the past, the same as never seen) go first, then the oldest."""

    def __init__(self, clock: Clock = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._tats: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._tats)

    async def take(self, key: str, rate: Rate) -> float:
        now = self._clock()
        verdict = gcra(rate, self._tats.get(key), now)
        if verdict.admitted:
            self._tats.pop(key, None)  # re-inserted last: the dict's order is the age of use
            self._tats[key] = verdict.tat
            if len(self._tats) > self._max_keys:
                self._evict(now)
        return verdict.retry_after_s

    async def wait(self, key: str, rate: Rate) -> float:
        return wait_s(rate, self._tats.get(key), self._clock())

    def _evict(self, now: float) -> None:
        for key in [key for key, tat in self._tats.items() if tat <= now]:
            del self._tats[key]
        while len(self._tats) > self._max_keys:
            del self._tats[next(iter(self._tats))]


MINUTE = 60.0

DEFAULT_CLASS_RATES: Mapping[RouteClass, Rate] = {
    RouteClass.PUBLISH: Rate(60_000, MINUTE),
    RouteClass.EVIDENCE: Rate(600, MINUTE),
    RouteClass.ACCESS_LOG: Rate(600, MINUTE),
    RouteClass.CONSOLE_LOGIN: Rate(10, MINUTE),
    RouteClass.DEFAULT: Rate(6_000, MINUTE),
}


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits in force (``limits:`` of the configuration).

    ``classes`` apply to every system, ``systems`` override them for one system (by id);
    ``unauthenticated`` applies per client address and route class to requests without a valid
    key (a console login uses its class's rate, per address); ``failed_authentication`` counts
    the refused keys of an address: once spent, that address's requests without a valid key are
    answered 429 until it refills."""

    classes: Mapping[RouteClass, Rate] = field(default_factory=lambda: dict(DEFAULT_CLASS_RATES))
    systems: Mapping[str, Mapping[RouteClass, Rate]] = field(default_factory=dict)
    unauthenticated: Rate = Rate(6_000, MINUTE)
    failed_authentication: Rate = Rate(60, MINUTE)
    distinct_subjects_window_s: float = 3600.0
    refused_reads_window_s: float = 3600.0

    def for_system(self, system_id: str, route_class: RouteClass) -> Rate:
        own = self.systems.get(system_id)
        if own is not None and route_class in own:
            return own[route_class]
        return self.classes.get(route_class) or self.classes[RouteClass.DEFAULT]

    def for_address(self, route_class: RouteClass) -> Rate:
        if route_class is RouteClass.CONSOLE_LOGIN:
            return self.classes[RouteClass.CONSOLE_LOGIN]
        return self.unauthenticated


class CallerLimiter:
    """The limits of the moment (``limits()``, so that a reload reaches them) applied on a store."""

    def __init__(self, store: RateStore, limits: Callable[[], Limits]) -> None:
        self.store = store
        self.limits = limits

    async def system(self, system_id: str, route_class: RouteClass) -> None:
        """Counts a request of an authenticated system; raises :class:`RateLimited` over its limit."""
        rate = self.limits().for_system(system_id, route_class)
        wait = await self.store.take(f"system:{system_id}:{route_class.value}", rate)
        if wait > 0:
            raise RateLimited(
                f"the system's limit for {route_class} requests is {rate.describe()}", wait, SYSTEM_LIMIT
            )

    async def address(self, address: str, route_class: RouteClass) -> None:
        """Counts a request without a valid key from ``address``; raises :class:`RateLimited`
        over the limit, or while the address's failed authentications are spent."""
        limits = self.limits()
        blocked = await self.store.wait(f"failed:{address}", limits.failed_authentication)
        if blocked > 0:
            raise RateLimited(
                "too many failed authentications from this address", blocked, FAILED_AUTHENTICATIONS
            )
        rate = limits.for_address(route_class)
        wait = await self.store.take(f"address:{address}:{route_class.value}", rate)
        if wait > 0:
            raise RateLimited(
                f"the limit for {route_class} requests without a valid key is {rate.describe()} per address",
                wait,
                ADDRESS_LIMIT,
            )

    async def failed_authentication(self, address: str) -> None:
        """Counts a refused key of ``address`` (its next ones are refused 429 once spent)."""
        await self.store.take(f"failed:{address}", self.limits().failed_authentication)
