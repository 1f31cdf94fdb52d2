"""SubscriptionDelivery.drain(), the first step of a shutdown: calls in flight finish, waits end."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from router.delivery import DeliveryStopped
from router.ports import StoredMessage
from tests.unit.router.delivery.fakes import ScriptedSink, always, unavailable
from tests.unit.router.delivery.test_delivery import events, harness


async def test_a_drain_ends_back_off_at_once_and_dead_letters_nothing() -> None:
    h = harness(ScriptedSink(always(unavailable)), max_attempts=1000)
    blocked = asyncio.Event()

    async def sleep_long(seconds: float) -> None:
        blocked.set()
        await asyncio.sleep(3600)

    h.delivery._sleep = sleep_long
    task = asyncio.create_task(h.delivery.handle({0: events("a", 2)}))
    await asyncio.wait_for(blocked.wait(), 5)
    h.delivery.drain()
    with pytest.raises(DeliveryStopped):
        await asyncio.wait_for(task, 5)
    assert h.store.add_calls == 0
    assert h.sink.delivered == []


async def test_a_drain_ends_the_wait_for_an_open_circuit() -> None:
    h = harness(ScriptedSink(always(unavailable)), max_attempts=1000, failure_threshold=1)
    blocked = asyncio.Event()

    async def sleep_long(seconds: float) -> None:
        blocked.set()
        await asyncio.sleep(3600)

    h.delivery._sleep = sleep_long
    task = asyncio.create_task(h.delivery.handle({0: events("a", 1)}))
    await asyncio.wait_for(blocked.wait(), 5)
    assert h.delivery.circuit_state == "open"
    h.delivery.drain()
    with pytest.raises(DeliveryStopped):
        await asyncio.wait_for(task, 5)
    assert h.store.add_calls == 0


async def test_a_drain_lets_the_call_in_flight_and_the_rest_of_the_batch_through() -> None:
    in_call = asyncio.Event()
    go_on = asyncio.Event()

    async def slow_first(messages: Sequence[StoredMessage], call: int) -> None:
        if call == 1:
            in_call.set()
            await go_on.wait()

    h = harness(ScriptedSink(slow_first))
    task = asyncio.create_task(h.delivery.handle({0: events("a", 3)}))
    await asyncio.wait_for(in_call.wait(), 5)
    h.delivery.drain()
    go_on.set()
    await asyncio.wait_for(task, 5)
    assert h.sink.delivered == ["a-0", "a-1", "a-2"]


async def test_a_drain_before_a_wait_does_not_sleep_at_all() -> None:
    h = harness(ScriptedSink(always(unavailable)), max_attempts=1000)
    h.delivery.drain()
    with pytest.raises(DeliveryStopped):
        await asyncio.wait_for(h.delivery.handle({0: events("a", 1)}), 5)
    assert len(h.sink.calls) == 1  # the call was made; the back-off after it was not waited
    assert h.time.sleeps == []
