"""SubscriptionDelivery on a scripted sink, an in-memory dead-letter store and fake time."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import pytest

from router.delivery import (
    HELD_SUBJECT,
    REJECTED_BY_SINK,
    REPLAY_HEADER,
    RETRIES_EXHAUSTED,
    DeliveryStopped,
    SubscriptionDelivery,
    event_id,
    idempotency_key,
)
from router.metrics import CircuitState
from router.ports import NewDeadLetter, StoredMessage
from router.sinks import SinkError
from router.subscriptions import BreakerPolicy, OnDeadLetter, RetryPolicy, SinkSpec, Subscription
from tests.support.dead_letters import MemoryDeadLetters
from tests.support.messages import stored
from tests.unit.router.delivery.fakes import (
    FakeTime,
    RecordingMetrics,
    ScriptedSink,
    always,
    fail_times,
    rejected,
    unavailable,
)

NAME = "portal-status"


def subscription(
    *,
    max_attempts: int = 5,
    max_elapsed_s: float = 60.0,
    initial_backoff_s: float = 0.2,
    max_backoff_s: float = 10.0,
    failure_threshold: int = 1000,
    reset_timeout_s: float = 30.0,
    on_dead_letter: OnDeadLetter = OnDeadLetter.CONTINUE,
    batch_size: int = 1,
) -> Subscription:
    return Subscription(
        name=NAME,
        system="000.00.00.G22/portal",
        types=(),
        filters=(),
        sink=SinkSpec("fake"),
        retry=RetryPolicy(max_attempts, max_elapsed_s, initial_backoff_s, max_backoff_s),
        breaker=BreakerPolicy(failure_threshold, reset_timeout_s),
        on_dead_letter=on_dead_letter,
        batch_size=batch_size,
    )


@dataclass
class Harness:
    delivery: SubscriptionDelivery
    sink: ScriptedSink
    store: MemoryDeadLetters
    metrics: RecordingMetrics
    time: FakeTime

    def letters(self) -> list[tuple[str, str, int]]:
        return [(d.event_id, d.reason, d.attempts) for d in self.store.of(NAME)]


def harness(
    sink: ScriptedSink | None = None, store: MemoryDeadLetters | None = None, **policy: object
) -> Harness:
    sink = sink or ScriptedSink()
    store = store or MemoryDeadLetters()
    metrics = RecordingMetrics()
    time = FakeTime()
    delivery = SubscriptionDelivery(
        subscription(**policy),  # type: ignore[arg-type]
        sink,
        store,
        metrics,
        clock=time.monotonic,
        wall_clock=time.wall,
        sleep=time.sleep,
    )
    return Harness(delivery, sink, store, metrics, time)


def events(subject: str, count: int, *, partition: int = 0, first_offset: int = 0) -> list[StoredMessage]:
    return [
        stored(f"{subject}-{i}", subject, partition=partition, offset=first_offset + i) for i in range(count)
    ]


def interleave(*groups: Sequence[StoredMessage]) -> list[StoredMessage]:
    out: list[StoredMessage] = []
    for row in zip(*groups, strict=True):
        out.extend(row)
    return out


def ids(messages: Sequence[StoredMessage]) -> list[str]:
    return [event_id(m) for m in messages]


# --- the happy path ----------------------------------------------------------------------------


async def test_delivers_every_message_in_order_with_the_event_id_as_idempotency_key() -> None:
    h = harness()
    messages = interleave(events("a", 3), events("b", 3))
    await h.delivery.handle({0: messages})
    assert h.sink.delivered == ids(messages)
    assert [call.key for call in h.sink.calls] == ids(messages)
    assert h.store.letters == []
    assert h.metrics.results() == ["ok"] * 6
    assert h.metrics.count("delivered") == 6


async def test_latency_is_measured_from_the_publish_time() -> None:
    h = harness()
    message = stored("e-1", timestamp_ms=int((h.time.wall() - 2.5) * 1000))
    await h.delivery.handle({0: [message]})
    [(_, outcome, latencies)] = h.metrics.outcomes
    assert outcome == "delivered"
    assert latencies == [pytest.approx(2.5)]


async def test_order_per_partition_holds_under_retries() -> None:
    h = harness(ScriptedSink(fail_times({"a-0": 2, "a-2": 3, "b-1": 1})))
    first = interleave(events("a", 4, partition=0), events("c", 4, partition=0))
    second = events("b", 4, partition=1)
    await h.delivery.handle({0: first, 1: second})
    delivered = h.sink.delivered
    assert [e for e in delivered if e in ids(first)] == ids(first)
    assert [e for e in delivered if e in ids(second)] == ids(second)
    assert sorted(delivered) == sorted(ids(first) + ids(second))  # each once
    assert h.store.letters == []
    assert h.metrics.results().count("retryable_error") == 6


async def test_partitions_are_delivered_concurrently() -> None:
    # The first event of partition 0 is only accepted once partition 1 delivered: with partitions
    # handled one after the other this would never finish.
    other_done = asyncio.Event()

    async def wait_for_other() -> None:
        await asyncio.wait_for(other_done.wait(), 5)

    def behaviour(messages: Sequence[StoredMessage], _: int) -> object:
        if event_id(messages[0]) == "b-0":
            other_done.set()
            return None
        return wait_for_other()

    h = harness(ScriptedSink(behaviour), max_attempts=1)  # type: ignore[arg-type]
    await h.delivery.handle({0: events("a", 1), 1: events("b", 1, partition=1)})
    assert h.sink.delivered == ["b-0", "a-0"]


# --- retries and budgets -----------------------------------------------------------------------


async def test_a_non_retryable_error_dead_letters_at_once_and_delivery_goes_on() -> None:
    h = harness(ScriptedSink(always(rejected, when=lambda e: e == "a-1")))
    await h.delivery.handle({0: events("a", 3)})
    assert h.sink.attempts_of("a-1") == 1
    assert h.letters() == [("a-1", REJECTED_BY_SINK, 1)]
    assert h.store.letters[0].last_error == "HTTP 400 Bad Request: no such dossier"
    assert h.sink.delivered == ["a-0", "a-2"]
    assert h.time.sleeps == []


async def test_retryable_errors_stop_after_max_attempts() -> None:
    h = harness(ScriptedSink(always(unavailable)), max_attempts=4)
    await h.delivery.handle({0: events("a", 1)})
    assert h.sink.attempts_of("a-0") == 4
    assert h.letters() == [("a-0", RETRIES_EXHAUSTED, 4)]
    assert h.store.letters[0].last_error == "HTTP 503 Service Unavailable"
    assert len(h.time.sleeps) == 3


async def test_retryable_errors_stop_at_the_time_budget() -> None:
    h = harness(
        ScriptedSink(always(unavailable)),
        max_attempts=1000,
        max_elapsed_s=5.0,
        initial_backoff_s=0.5,
        max_backoff_s=2.0,
    )
    start = h.time.now
    await h.delivery.handle({0: events("a", 1)})
    [letter] = h.store.letters
    assert letter.reason == RETRIES_EXHAUSTED
    assert 2 <= letter.attempts < 1000
    # the back-off never sleeps past the budget: the last attempt starts by the deadline
    assert h.time.now - start <= 5.0 + 1e-9


async def test_back_off_is_jittered_and_bounded() -> None:
    h = harness(
        ScriptedSink(always(unavailable)),
        max_attempts=12,
        max_elapsed_s=1e6,
        initial_backoff_s=0.1,
        max_backoff_s=1.0,
    )
    await h.delivery.handle({0: events("a", 1)})
    assert len(h.time.sleeps) == 11
    for n, pause in enumerate(h.time.sleeps):
        assert 0 <= pause <= min(0.1 * 2**n, 1.0)
    assert len(set(h.time.sleeps)) > 1


async def test_retry_after_from_the_sink_is_honoured() -> None:
    h = harness(ScriptedSink(fail_times({"a-0": 1}, lambda: unavailable(retry_after_s=7.0))))
    await h.delivery.handle({0: events("a", 1)})
    assert h.time.sleeps == [7.0]
    assert h.sink.delivered == ["a-0"]


async def test_a_retry_after_beyond_the_budget_gives_up_without_waiting() -> None:
    h = harness(ScriptedSink(always(lambda: unavailable(retry_after_s=120.0))), max_elapsed_s=60.0)
    await h.delivery.handle({0: events("a", 1)})
    assert h.time.sleeps == []
    assert h.letters() == [("a-0", RETRIES_EXHAUSTED, 1)]


async def test_only_retryable_errors_are_retried_and_an_unexpected_exception_counts_as_one() -> None:
    def broken(messages: Sequence[StoredMessage], _: int) -> None:
        raise KeyError("bug in the adapter")

    h = harness(ScriptedSink(broken), max_attempts=3)
    await h.delivery.handle({0: events("a", 1)})
    [letter] = h.store.letters
    assert (letter.reason, letter.attempts) == (RETRIES_EXHAUSTED, 3)
    assert "KeyError" in letter.last_error


# --- batches -----------------------------------------------------------------------------------


async def test_batches_are_cut_in_order_with_a_stable_key() -> None:
    h = harness(batch_size=3)
    messages = events("a", 7)
    await h.delivery.handle({0: messages})
    assert [call.ids for call in h.sink.calls] == [
        tuple(ids(messages[0:3])),
        tuple(ids(messages[3:6])),
        tuple(ids(messages[6:7])),
    ]
    first, second, last = (call.key for call in h.sink.calls)
    assert first == idempotency_key(messages[0:3]) and first.startswith("batch-")
    assert first != second
    assert last == "a-6"


async def test_a_rejected_batch_is_sent_event_by_event_so_only_the_culprit_is_dead_lettered() -> None:
    h = harness(ScriptedSink(always(rejected, when=lambda e: e == "a-1")), batch_size=3)
    messages = events("a", 4)
    await h.delivery.handle({0: messages})
    assert [call.ids for call in h.sink.calls] == [
        ("a-0", "a-1", "a-2"),
        ("a-0",),
        ("a-1",),
        ("a-2",),
        ("a-3",),
    ]
    assert h.letters() == [("a-1", REJECTED_BY_SINK, 1)]
    assert h.sink.delivered == ["a-0", "a-2", "a-3"]


async def test_a_batch_that_ran_out_of_budget_is_dead_lettered_whole() -> None:
    h = harness(ScriptedSink(always(unavailable)), batch_size=2, max_attempts=3)
    await h.delivery.handle({0: events("a", 2)})
    assert len(h.sink.calls) == 3
    assert h.letters() == [("a-0", RETRIES_EXHAUSTED, 3), ("a-1", RETRIES_EXHAUSTED, 3)]


# --- after a dead letter -----------------------------------------------------------------------


async def test_continue_delivers_the_later_events_of_the_subject() -> None:
    h = harness(ScriptedSink(always(rejected, when=lambda e: e == "a-0")))
    await h.delivery.handle({0: events("a", 3)})
    assert h.sink.delivered == ["a-1", "a-2"]


async def test_hold_subject_dead_letters_the_later_events_of_the_subject_only() -> None:
    h = harness(
        ScriptedSink(always(rejected, when=lambda e: e == "a-1")),
        on_dead_letter=OnDeadLetter.HOLD_SUBJECT,
    )
    await h.delivery.handle({0: interleave(events("a", 4), events("b", 4))})
    assert h.letters() == [
        ("a-1", REJECTED_BY_SINK, 1),
        ("a-2", HELD_SUBJECT, 0),
        ("a-3", HELD_SUBJECT, 0),
    ]
    assert h.sink.delivered == ["a-0", "b-0", "b-1", "b-2", "b-3"]
    assert h.delivery.held_subjects == {"a"}
    # and later batches too, until replay
    await h.delivery.handle({0: events("a", 1, first_offset=10)})
    assert h.sink.attempts_of("a-0") == 1
    assert h.store.letters[-1].reason == HELD_SUBJECT


async def test_hold_subject_inside_a_rejected_batch() -> None:
    h = harness(
        ScriptedSink(always(rejected, when=lambda e: e == "a-0")),
        on_dead_letter=OnDeadLetter.HOLD_SUBJECT,
        batch_size=4,
    )
    await h.delivery.handle({0: interleave(events("a", 2), events("b", 2))})
    assert h.letters() == [("a-0", REJECTED_BY_SINK, 1), ("a-1", HELD_SUBJECT, 0)]
    assert h.sink.delivered == ["b-0", "b-1"]


async def test_held_subjects_are_loaded_from_the_store_and_released_on_replay() -> None:
    store = MemoryDeadLetters()
    old = stored("a-0", "a", offset=0)
    await store.add([NewDeadLetter(NAME, "a-0", "a", REJECTED_BY_SINK, 1, "HTTP 400", old)])
    h = harness(store=store, on_dead_letter=OnDeadLetter.HOLD_SUBJECT)
    await h.delivery.handle({0: events("a", 1, first_offset=1) + events("b", 1, first_offset=2)})
    assert h.sink.delivered == ["b-0"]
    assert h.letters()[-1][1] == HELD_SUBJECT
    h.delivery.release(["a"])
    await h.delivery.handle({0: [stored("a-9", "a", offset=3)]})
    assert h.sink.delivered == ["b-0", "a-9"]


async def test_holds_are_read_again_for_a_partition_taken_over_from_another_process() -> None:
    store = MemoryDeadLetters()  # shared with the process that owned partition 1 before
    h = harness(store=store, on_dead_letter=OnDeadLetter.HOLD_SUBJECT)
    await h.delivery.handle({0: events("b", 1)})
    # the other process dead-letters a-0 of partition 1 and holds "a", then goes away
    failed = stored("a-0", "a", partition=1, offset=0)
    await store.add([NewDeadLetter(NAME, "a-0", "a", REJECTED_BY_SINK, 1, "HTTP 400", failed)])
    await h.delivery.handle({1: [stored("a-1", "a", partition=1, offset=1)]})
    assert h.sink.delivered == ["b-0"]
    assert h.letters()[-1] == ("a-1", HELD_SUBJECT, 0)
    assert h.delivery.held_subjects == {"a"}


async def test_a_purge_through_another_process_lifts_the_hold_when_the_subject_comes_again() -> None:
    store = MemoryDeadLetters()  # shared with the process the purge reached
    h = harness(
        ScriptedSink(always(rejected, when=lambda e: e == "a-0")),
        store=store,
        on_dead_letter=OnDeadLetter.HOLD_SUBJECT,
    )
    await h.delivery.handle({0: events("a", 2)})
    assert h.delivery.held_subjects == {"a"}
    # the other process purges the subject's letters; this delivery is not told
    await store.purge([d.id for d in store.of(NAME)])
    await h.delivery.handle({0: [stored("a-2", "a", offset=2), stored("b-0", "b", offset=3)]})
    assert h.sink.delivered == ["a-2", "b-0"]
    assert h.delivery.held_subjects == frozenset()


async def test_a_purge_after_a_replay_leaves_the_hold_to_the_replayed_copy() -> None:
    store = MemoryDeadLetters()  # shared with the process the replay and the purge reached
    h = harness(
        ScriptedSink(always(rejected, when=lambda e: e == "a-0")),
        store=store,
        on_dead_letter=OnDeadLetter.HOLD_SUBJECT,
    )
    await h.delivery.handle({0: events("a", 2)})  # a-0 fails, a-1 held
    first, held = store.of(NAME)
    await store.mark_replayed([first.id])  # its copy goes on the queue after a-2
    await store.purge([held.id])
    await h.delivery.handle({0: [stored("a-2", "a", offset=2)]})
    assert h.sink.delivered == [], "a-2 overtook the replayed copy of a-0"
    assert h.letters()[-1] == ("a-2", HELD_SUBJECT, 0)


async def test_a_replay_through_another_process_leaves_the_hold_to_its_copies() -> None:
    store = MemoryDeadLetters()
    h = harness(
        ScriptedSink(always(rejected, when=lambda e: e == "a-0")),
        store=store,
        on_dead_letter=OnDeadLetter.HOLD_SUBJECT,
    )
    await h.delivery.handle({0: events("a", 1)})
    # replayed elsewhere: its copy is on the queue after this event, which must not overtake it
    await store.mark_replayed([d.id for d in store.of(NAME)])
    await h.delivery.handle({0: [stored("a-1", "a", offset=1)]})
    assert h.sink.delivered == []
    assert h.letters()[-1] == ("a-1", HELD_SUBJECT, 0)


async def test_a_replayed_copy_lifts_the_hold_but_a_copy_failing_again_holds_its_successors() -> None:
    replay = ((REPLAY_HEADER, b"r1"),)
    fails_once = fail_times({"a-0": 2}, rejected)  # rejected first time and on its first replay
    h = harness(ScriptedSink(fails_once), on_dead_letter=OnDeadLetter.HOLD_SUBJECT)
    await h.delivery.handle({0: events("a", 2)})
    assert h.delivery.held_subjects == {"a"}
    copies = [stored(e, "a", offset=10 + i, extra_headers=replay) for i, e in enumerate(["a-0", "a-1"])]
    await h.delivery.handle({0: copies})
    # a-0's copy lifted the hold and failed again; a-1's copy (same replay) is held behind it
    assert h.letters()[-2:] == [("a-0", REJECTED_BY_SINK, 1), ("a-1", HELD_SUBJECT, 0)]
    second = [
        stored(e, "a", offset=20 + i, extra_headers=((REPLAY_HEADER, b"r2"),))
        for i, e in enumerate(["a-0", "a-1"])
    ]
    await h.delivery.handle({0: second})
    assert h.sink.delivered == ["a-0", "a-1"]
    assert h.delivery.held_subjects == frozenset()


async def test_a_hold_caused_by_a_replayed_copy_survives_a_restart() -> None:
    store = MemoryDeadLetters()
    failed_copy = stored("a-0", "a", offset=10, extra_headers=((REPLAY_HEADER, b"r1"),))
    await store.add([NewDeadLetter(NAME, "a-0", "a", REJECTED_BY_SINK, 1, "HTTP 400", failed_copy)])
    h = harness(store=store, on_dead_letter=OnDeadLetter.HOLD_SUBJECT)  # a fresh process
    same_replay = stored("a-1", "a", offset=11, extra_headers=((REPLAY_HEADER, b"r1"),))
    await h.delivery.handle({0: [same_replay]})
    assert h.sink.delivered == []
    assert h.letters()[-1] == ("a-1", HELD_SUBJECT, 0)
    next_replay = stored("a-0", "a", offset=12, extra_headers=((REPLAY_HEADER, b"r2"),))
    await h.delivery.handle({0: [next_replay]})
    assert h.sink.delivered == ["a-0"]


# --- the circuit breaker -----------------------------------------------------------------------


async def test_an_open_circuit_is_waited_for_without_burning_attempts() -> None:
    h = harness(
        ScriptedSink(fail_times({"a-0": 2})),
        failure_threshold=2,
        reset_timeout_s=20.0,
        max_attempts=3,
        max_elapsed_s=60.0,
        initial_backoff_s=0.01,
        max_backoff_s=0.01,
    )
    await h.delivery.handle({0: events("a", 2)})
    # two failures opened the circuit; the third call waited for it, then probed and succeeded
    assert h.sink.delivered == ["a-0", "a-1"]
    assert h.sink.attempts_of("a-0") == 3
    assert h.metrics.results() == ["retryable_error", "retryable_error", "circuit_open", "ok", "ok"]
    assert [state for _, state in h.metrics.circuits] == [
        CircuitState.CLOSED,
        CircuitState.OPEN,
        CircuitState.HALF_OPEN,
        CircuitState.CLOSED,
    ]
    assert h.delivery.circuit_state == "closed"


async def test_a_circuit_open_beyond_the_budget_probes_once_at_the_deadline_then_dead_letters() -> None:
    h = harness(
        ScriptedSink(always(unavailable)),
        failure_threshold=1,
        reset_timeout_s=300.0,
        max_attempts=5,
        max_elapsed_s=60.0,
    )
    await h.delivery.handle({0: events("a", 2)})
    first, second = h.store.letters
    # the call that opened the circuit and the last chance at the deadline; then the last chance only
    assert (first.reason, first.attempts) == (RETRIES_EXHAUSTED, 2)
    assert (second.reason, second.attempts) == (RETRIES_EXHAUSTED, 1)
    assert second.last_error == "HTTP 503 Service Unavailable"
    assert h.delivery.circuit_state == "open"
    # a back-off after the first failure, then the rest of each budget: no probe before a deadline
    assert len(h.time.sleeps) == 3 and h.time.sleeps[0] < 10.0
    assert h.time.sleeps[0] + h.time.sleeps[1] == pytest.approx(60.0)
    assert h.time.sleeps[2] == pytest.approx(60.0)


async def test_a_permanent_rejection_does_not_open_the_circuit() -> None:
    h = harness(ScriptedSink(always(rejected)), failure_threshold=1)
    await h.delivery.handle({0: events("a", 3)})
    assert len(h.sink.calls) == 3
    assert h.delivery.circuit_state == "closed"


async def test_retries_asked_for_by_a_healthy_sink_do_not_open_the_circuit() -> None:
    # The evidence collector, when a provider behind it is down: it works, and asks for a retry.
    def behind_it() -> SinkError:
        return SinkError("dossier a: a provider is down", retryable=True, sink_healthy=True)

    h = harness(
        ScriptedSink(always(behind_it, when=lambda eid: eid.startswith("a-"))),
        failure_threshold=2,
        reset_timeout_s=300.0,
        max_attempts=3,
        initial_backoff_s=0.01,
        max_backoff_s=0.01,
    )
    await h.delivery.handle({0: events("a", 2)})
    await h.delivery.handle({1: events("b", 2)})
    assert h.sink.delivered == ["b-0", "b-1"]  # not dead-lettered behind an open circuit
    assert [letter[:2] for letter in h.letters()] == [("a-0", RETRIES_EXHAUSTED), ("a-1", RETRIES_EXHAUSTED)]
    assert all(letter[2] == 3 for letter in h.letters())  # every attempt spent, none refused
    assert "circuit_open" not in h.metrics.results()
    assert h.delivery.circuit_state == "closed"


# --- failures of the delivery itself -----------------------------------------------------------


async def test_a_failing_dead_letter_store_makes_handle_raise() -> None:
    store = MemoryDeadLetters()
    store.fail_with = OSError("disk full")
    h = harness(ScriptedSink(always(rejected, when=lambda e: e == "a-1")), store=store)
    with pytest.raises(OSError, match="disk full"):
        await h.delivery.handle({0: events("a", 3)})


async def test_a_failing_dead_letter_store_raises_across_partitions_too() -> None:
    store = MemoryDeadLetters()
    store.fail_with = OSError("disk full")
    h = harness(ScriptedSink(always(rejected, when=lambda e: e == "a-0")), store=store)
    with pytest.raises(OSError, match="disk full"):
        await h.delivery.handle({0: events("a", 2), 1: events("b", 2, partition=1)})


async def test_cancellation_during_back_off_dead_letters_nothing() -> None:
    h = harness(ScriptedSink(always(unavailable)), max_attempts=1000)
    blocked = asyncio.Event()

    async def sleep_forever(seconds: float) -> None:
        blocked.set()
        await asyncio.Event().wait()

    h.delivery._sleep = sleep_forever
    task = asyncio.create_task(h.delivery.handle({0: events("a", 2)}))
    await asyncio.wait_for(blocked.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert h.store.add_calls == 0
    assert h.sink.delivered == []


async def test_a_stop_ends_back_off_at_once_and_dead_letters_nothing() -> None:
    h = harness(ScriptedSink(always(unavailable)), max_attempts=1000)
    blocked = asyncio.Event()

    async def sleep_long(seconds: float) -> None:
        blocked.set()
        await asyncio.sleep(3600)

    h.delivery._sleep = sleep_long
    task = asyncio.create_task(h.delivery.handle({0: events("a", 2)}))
    await asyncio.wait_for(blocked.wait(), 5)
    await h.delivery.close()
    with pytest.raises(DeliveryStopped):
        await asyncio.wait_for(task, 5)
    assert h.store.add_calls == 0
    assert h.sink.closed
    with pytest.raises(DeliveryStopped):
        await h.delivery.handle({0: events("b", 1)})


async def test_a_cancelled_probe_gives_its_slot_back() -> None:
    entered = asyncio.Event()
    calls = 0

    async def hang() -> None:
        entered.set()
        await asyncio.Event().wait()

    def behaviour(messages: Sequence[StoredMessage], _: int) -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise unavailable()
        if calls == 2:
            return hang()  # the probe hangs until cancelled
        return None

    h = harness(ScriptedSink(behaviour), failure_threshold=1, reset_timeout_s=1.0)  # type: ignore[arg-type]
    task = asyncio.create_task(h.delivery.handle({0: events("a", 1)}))
    await asyncio.wait_for(entered.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert h.delivery.circuit_state == "half_open"
    await h.delivery.handle({0: events("a", 1)})  # gets the probe again
    assert h.sink.delivered == ["a-0"]
    assert h.delivery.circuit_state == "closed"


# --- metrics and keys --------------------------------------------------------------------------


async def test_dead_letters_are_reported_with_the_current_count() -> None:
    h = harness(ScriptedSink(always(rejected)))
    await h.delivery.handle({0: events("a", 2)})
    assert h.metrics.dead_letter_counts == [(NAME, 0), (NAME, 1), (NAME, 2)]
    assert h.metrics.count("dead_lettered") == 2
    assert h.metrics.results() == ["permanent_error", "permanent_error"]


def test_idempotency_keys() -> None:
    a, b = stored("id-1", offset=1), stored("id-2", offset=2)
    assert idempotency_key([a]) == "id-1"
    assert idempotency_key([a, b]) == idempotency_key([stored("id-1"), stored("id-2")])
    assert idempotency_key([a, b]) != idempotency_key([b, a])
    no_id = StoredMessage("deliver.x", 3, 42, "k", b"", (), 0)
    assert idempotency_key([no_id]) == "deliver.x/3/42"


def test_a_sink_error_says_what_it_is() -> None:
    error = SinkError("HTTP 503", retryable=True, status=503, retry_after_s=2.0)
    assert (error.detail, error.retryable, error.status, error.retry_after_s) == ("HTTP 503", True, 503, 2.0)
    assert "retryable=True" in repr(error)
