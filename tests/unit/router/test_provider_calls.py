"""The call guard of provider calls (router.provider_calls.GuardedCalls), on attempts that fail as
told: which failures are retried, how often, within which deadline, and the breaker's count."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from router.provider_calls import GuardedCalls
from router.providers import (
    CallPolicy,
    ProviderError,
    ProviderFault,
    ProviderTimeout,
    ProviderUnavailable,
    SubjectNotFound,
)
from router.subscriptions import BreakerPolicy

FAST = CallPolicy(timeout_s=1.0, deadline_s=5.0, max_attempts=3, initial_backoff_s=0.001, max_backoff_s=0.002)


def failing(*errors: ProviderError) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """An attempt that raises ``errors`` in turn, then answers "ok"; and its call count."""
    calls: list[int] = []

    async def attempt() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "ok"

    return attempt, calls


async def test_a_call_that_succeeds_at_once_is_one_attempt() -> None:
    guard = GuardedCalls("registry", FAST)
    attempt, calls = failing()
    assert await guard.call(attempt) == "ok"
    assert (len(calls), guard.attempts) == (1, 1)


async def test_failures_that_may_pass_are_retried_until_an_answer() -> None:
    guard = GuardedCalls("registry", FAST)
    attempt, calls = failing(ProviderUnavailable("down"), ProviderTimeout("slow"))
    assert await guard.call(attempt) == "ok"
    assert len(calls) == 3


async def test_retries_stop_at_max_attempts_with_the_last_error() -> None:
    guard = GuardedCalls("registry", FAST)
    attempt, calls = failing(*(ProviderUnavailable(f"down {n}") for n in range(5)))
    with pytest.raises(ProviderUnavailable, match="down 2"):
        await guard.call(attempt)
    assert len(calls) == FAST.max_attempts


@pytest.mark.parametrize("error", [SubjectNotFound("no such citizen"), ProviderFault("E1", "refused")])
async def test_answers_of_the_provider_are_not_retried(error: ProviderError) -> None:
    guard = GuardedCalls("registry", FAST)
    attempt, calls = failing(error)
    with pytest.raises(type(error)):
        await guard.call(attempt)
    assert len(calls) == 1
    assert error.provider == "registry"


async def test_a_call_not_safe_to_repeat_is_tried_once() -> None:
    guard = GuardedCalls("registry", FAST)
    attempt, calls = failing(ProviderUnavailable("down"))
    with pytest.raises(ProviderUnavailable):
        await guard.call(attempt, retry=False)
    assert len(calls) == 1


async def test_no_retry_starts_after_the_deadline() -> None:
    now = [0.0]
    guard = GuardedCalls("registry", FAST, clock=lambda: now[0])

    async def attempt() -> str:
        now[0] += 10.0  # each attempt takes longer than the call's whole deadline
        raise ProviderUnavailable("down")

    with pytest.raises(ProviderUnavailable):
        await guard.call(attempt)
    assert guard.attempts == 1


async def test_the_breaker_opens_after_repeated_failures_and_calls_fail_fast() -> None:
    policy = CallPolicy(
        timeout_s=1.0,
        deadline_s=5.0,
        max_attempts=1,
        breaker=BreakerPolicy(failure_threshold=2, reset_timeout_s=60.0),
    )
    guard = GuardedCalls("registry", policy)
    for _ in range(2):
        attempt, _ = failing(ProviderUnavailable("down"))
        with pytest.raises(ProviderUnavailable):
            await guard.call(attempt)
    attempt, calls = failing()
    with pytest.raises(ProviderUnavailable, match="circuit open"):
        await guard.call(attempt)
    assert calls == []


@pytest.mark.parametrize(
    ("code", "shown"),
    [
        ("soap:Server", "soap:Server"),
        ("404", "404"),
        ("ERR_0042", "ERR_0042"),
        ("Client.001099012345", "(not a plain code)"),  # a personal ID inside the code
        ("MST-0312345678", "(not a plain code)"),
        ("code with spaces", "(not a plain code)"),
    ],
)
def test_a_fault_code_is_repeated_only_when_it_holds_no_identifier(code: str, shown: str) -> None:
    fault = ProviderFault(code, "refused", provider="registry")
    assert fault.detail == f"registry refused the request: fault {shown} (not retryable)"
