"""A sink down for longer than the breaker's pause but within the retry budget, on virtual time:
the last chance at a call's deadline (router/delivery.py) and how partitions share it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from router.delivery import RETRIES_EXHAUSTED, SubscriptionDelivery, event_id
from router.ports import StoredMessage
from router.subscriptions import BreakerPolicy, RetryPolicy, SinkSpec, Subscription
from tests.support.dead_letters import MemoryDeadLetters
from tests.support.messages import stored
from tests.unit.router.delivery.fakes import RecordingMetrics, ScriptedSink, VirtualTime, unavailable

NAME = "portal-status"
START = 1000.0


@dataclass
class Outage:
    """A sink that is down from the start until ``ends_at`` (virtual time); each call takes
    ``call_s``. ``started`` records when each call began, with its event ids."""

    time: VirtualTime
    ends_at: float
    call_s: float = 0.0
    started: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)

    async def __call__(self, messages: Sequence[StoredMessage], _: int) -> None:
        began = self.time.now
        self.started.append((began, tuple(event_id(m) for m in messages)))
        if self.call_s:
            await self.time.sleep(self.call_s)
        if began < self.ends_at:
            raise unavailable()

    def calls_between(self, start: float, end: float) -> int:
        return sum(1 for at, _ in self.started if start <= at < end)


def delivery(
    time: VirtualTime,
    outage: Outage,
    store: MemoryDeadLetters,
    *,
    retry: RetryPolicy | None = None,
    breaker: BreakerPolicy | None = None,
) -> tuple[SubscriptionDelivery, ScriptedSink]:
    sink = ScriptedSink(outage)
    subscription = Subscription(
        name=NAME,
        system="000.00.00.G22/portal",
        types=(),
        filters=(),
        sink=SinkSpec("fake"),
        retry=retry or RetryPolicy(),
        breaker=breaker or BreakerPolicy(),
    )
    made = SubscriptionDelivery(
        subscription,
        sink,
        store,
        RecordingMetrics(),
        clock=time.monotonic,
        wall_clock=time.wall,
        sleep=time.sleep,
    )
    return made, sink


def queue(partitions: int, per_partition: int) -> dict[int, list[StoredMessage]]:
    return {
        p: [stored(f"p{p}-{i}", f"dossier-{p}", partition=p, offset=i) for i in range(per_partition)]
        for p in range(partitions)
    }


async def test_a_45_s_outage_under_the_default_policy_dead_letters_nothing() -> None:
    # 8 attempts, 60 s budget, breaker open for 30 s after 5 failures: the probe at 30 s fails, the
    # circuit would stay open until past every call's deadline; the last chance finds the sink back.
    # A refused connection takes a few milliseconds: the circuit opens just after the budgets began.
    time = VirtualTime(START)
    outage = Outage(time, ends_at=START + 45, call_s=0.005)
    store = MemoryDeadLetters()
    made, sink = delivery(time, outage, store)
    work = queue(partitions=8, per_partition=3)
    await time.run(made.handle(work))
    assert store.letters == []
    for p, messages in work.items():
        mine = [eid for eid in sink.delivered if eid.startswith(f"p{p}-")]
        assert mine == [event_id(m) for m in messages]
    assert made.circuit_state == "closed"


async def test_one_probe_at_the_deadline_and_the_others_go_on_once_it_closes_the_circuit() -> None:
    time = VirtualTime(START)
    outage = Outage(time, ends_at=START + 45, call_s=1.0)
    store = MemoryDeadLetters()
    made, sink = delivery(
        time, outage, store, breaker=BreakerPolicy(failure_threshold=1, reset_timeout_s=30.0)
    )
    await time.run(made.handle(queue(partitions=4, per_partition=1)))
    assert store.letters == []
    assert sorted(sink.delivered) == ["p0-0", "p1-0", "p2-0", "p3-0"]
    # every budget ends at START + 60: one probe then, the rest once it has closed the circuit
    deadline = START + 60
    assert outage.calls_between(deadline, deadline + outage.call_s) == 1
    assert outage.calls_between(deadline + outage.call_s, deadline + 2 * outage.call_s) == 3
    # no call started between the probe that failed (around 30 s) and the deadline
    assert outage.calls_between(START + 33, deadline) == 0


async def test_a_deadline_during_another_calls_probe_waits_for_it_and_gives_up_if_it_fails() -> None:
    time = VirtualTime(START)
    outage = Outage(time, ends_at=START + 1000, call_s=1.0)
    store = MemoryDeadLetters()
    made, _ = delivery(time, outage, store, breaker=BreakerPolicy(failure_threshold=1, reset_timeout_s=30.0))
    await time.run(made.handle(queue(partitions=4, per_partition=1)))
    deadline = START + 60
    # still one probe at a time: the three calls whose deadline came during it made no call
    assert outage.calls_between(deadline, deadline + 1000) == 1
    assert {letter.reason for letter in store.letters} == {RETRIES_EXHAUSTED}
    refused = [letter for letter in store.letters if "circuit is open" in letter.last_error]
    assert len(refused) == 3
    assert all("HTTP 503" in letter.last_error for letter in refused)
    assert made.circuit_state == "open"


async def test_each_call_gets_one_last_chance_only() -> None:
    # The breaker's pause (300 s) outlasts every budget (60 s): each call waits for its deadline,
    # probes once, and its events are dead-lettered when that probe fails.
    time = VirtualTime(START)
    outage = Outage(time, ends_at=START + 10_000)
    store = MemoryDeadLetters()
    made, _ = delivery(time, outage, store, breaker=BreakerPolicy(failure_threshold=1, reset_timeout_s=300.0))
    await time.run(made.handle(queue(partitions=1, per_partition=3)))
    assert [(letter.event_id, letter.attempts) for letter in store.letters] == [
        ("p0-0", 2),  # the call that opened the circuit, then its last chance
        ("p0-1", 1),
        ("p0-2", 1),
    ]
    starts = [at for at, _ in outage.started]
    assert starts[1:] == pytest.approx([START + 60, START + 120, START + 180])
