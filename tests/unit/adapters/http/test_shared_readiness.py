"""/readyz runs one readiness check at a time, whatever the number of requests waiting on it."""

from __future__ import annotations

import asyncio

from adapters.http.routes.health import SharedReadiness


class CountedCheck:
    """A readiness check that holds until released and counts how often it ran."""

    def __init__(self) -> None:
        self.runs = 0
        self.release = asyncio.Event()

    async def __call__(self) -> dict[str, bool]:
        self.runs += 1
        await self.release.wait()
        return {"transport": True, "run": self.runs == 1}


async def test_requests_during_a_check_share_its_result() -> None:
    check = CountedCheck()
    shared = SharedReadiness(check)
    waiting = [asyncio.ensure_future(shared()) for _ in range(50)]
    await asyncio.sleep(0)
    check.release.set()
    results = await asyncio.gather(*waiting)
    assert check.runs == 1
    assert all(result == {"transport": True, "run": True} for result in results)


async def test_a_request_after_a_check_runs_a_new_one() -> None:
    check = CountedCheck()
    check.release.set()
    shared = SharedReadiness(check)
    assert await shared() == {"transport": True, "run": True}
    assert await shared() == {"transport": True, "run": False}
    assert check.runs == 2


async def test_a_request_that_goes_away_leaves_the_check_to_the_others() -> None:
    check = CountedCheck()
    shared = SharedReadiness(check)
    first = asyncio.ensure_future(shared())
    second = asyncio.ensure_future(shared())
    await asyncio.sleep(0)
    first.cancel()
    check.release.set()
    assert await second == {"transport": True, "run": True}
    assert check.runs == 1
