"""One provider call with the safety around it: a circuit breaker per endpoint, a timeout per
attempt, a deadline for the whole call, and retries only for failures that may pass.

The adapters (SOAP, REST) supply one attempt as a coroutine function that raises
:class:`router.providers.ProviderError`; this module decides whether and when to try again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

from router.breaker import CircuitBreaker
from router.providers import CallPolicy, CircuitOpen, ProviderError, ProviderTimeout

T = TypeVar("T")
Attempt = Callable[[], Awaitable[T]]


def _retryable(error: BaseException) -> bool:
    return isinstance(error, ProviderError) and error.retryable


class GuardedCalls:
    """Calls to one endpoint (one breaker), under one :class:`CallPolicy`."""

    def __init__(self, name: str, policy: CallPolicy, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.policy = policy
        self.breaker = CircuitBreaker(policy.breaker, clock=clock)
        self._clock = clock
        self.attempts = 0  # attempts that reached the endpoint, for metrics and tests

    @property
    def circuit_state(self) -> str:
        """``closed``, ``half_open`` or ``open``."""
        return self.breaker.state.name.lower()

    async def call(self, attempt: Attempt[T], *, deadline: float | None = None, retry: bool = True) -> T:
        """``attempt()`` with retries (none if not ``retry``: a call that is not safe to repeat);
        ``deadline`` is an absolute time on this object's clock."""
        policy = self.policy
        own = self._clock() + policy.deadline_s
        deadline = own if deadline is None else min(deadline, own)
        # Most calls succeed at once: the first attempt runs without tenacity, whose machinery
        # per call was ~6 % of the bus's CPU on an evidence query (bench.evidence, py-spy).
        try:
            return await self._once(attempt, deadline)
        except ProviderError as error:
            if not (retry and error.retryable):
                raise
            first_failure = error
        return await self._retry(attempt, deadline, first_failure)

    async def _retry(self, attempt: Attempt[T], deadline: float, first_failure: ProviderError) -> T:
        """The attempts after a first one that failed in a way that may pass, under tenacity,
        which sees that failure as its own first attempt (same waits and stop as without it)."""
        policy = self.policy
        replayed = False

        async def next_attempt() -> T:
            nonlocal replayed
            if not replayed:
                replayed = True
                raise first_failure
            return await self._once(attempt, deadline)

        jitter = wait_random_exponential(multiplier=policy.initial_backoff_s, max=policy.max_backoff_s)

        def wait(state: RetryCallState) -> float:
            return max(0.0, min(jitter(state), deadline - self._clock()))

        def stop(state: RetryCallState) -> bool:
            return state.attempt_number >= policy.max_attempts or self._clock() >= deadline

        retrying = AsyncRetrying(stop=stop, wait=wait, retry=retry_if_exception(_retryable), reraise=True)
        async for trying in retrying:
            with trying:
                return await next_attempt()
        raise AssertionError("unreachable: tenacity reraises the last error")  # pragma: no cover

    async def _once(self, attempt: Attempt[T], deadline: float) -> T:
        permit = self.breaker.acquire()
        if permit is None:
            raise CircuitOpen(f"{self.name}: circuit open after repeated failures", provider=self.name)
        left = min(self.policy.timeout_s, deadline - self._clock())
        if left <= 0:
            self.breaker.release(permit)
            raise ProviderTimeout(f"{self.name}: the call's deadline passed", provider=self.name)
        self.attempts += 1
        try:
            async with asyncio.timeout(left):
                result = await attempt()
        except TimeoutError:
            self.breaker.failure(permit)
            raise ProviderTimeout(f"{self.name}: no answer within {left:.3g}s", provider=self.name) from None
        except ProviderError as error:
            if error.retryable:
                self.breaker.failure(permit)
            else:
                self.breaker.success(permit)
            if not error.provider:
                error.provider = self.name
            raise
        except BaseException:
            self.breaker.release(permit)
            raise
        self.breaker.success(permit)
        return result
