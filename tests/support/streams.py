"""A stream of events published over HTTP by a client that retries as a real one would, and the
checks of what a receiver got: nothing acknowledged lost, order per subject, duplicates only
under the same id. Shared by the crash tests of every transport."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.bus import ONESTOP, BusConfig, BusProcess
from tests.support.events import delivered, sequence_of, status_changed
from tests.support.receiver import Fault, Received, Receiver

BATCH_HEADERS = {"Content-Type": "application/cloudevents-batch+json"}
# How long the receiver holds the delivery request the kill -9 must find in flight: a bound, never
# reached in a passing run (the bus is killed as soon as the request is held).
HOLD_S = 10.0


def stream(events: int, subjects: int, batch: int) -> list[list[dict[str, Any]]]:
    """``events`` events over ``subjects`` subjects (sequence n // subjects), in batches."""
    items = [status_changed(n % subjects, n // subjects) for n in range(events)]
    return [items[i : i + batch] for i in range(0, events, batch)]


@dataclass
class Publishing:
    """What the publisher has seen so far, readable while it runs (the killer reads it)."""

    acknowledged: set[str] = field(default_factory=set)
    # the transport errors it retried, by type: a request cut off by a crash, a refused connection
    transport_errors: list[str] = field(default_factory=list)
    # the index of the batch whose request is awaiting its answer, if one is
    in_flight: int | None = None
    finished: bool = False  # every batch acknowledged


async def publish_stream(
    url: str,
    config: BusConfig,
    batches: list[list[dict[str, Any]]],
    on_batch: Callable[[int], None] = lambda index: None,
    unavailable: list[int] | None = None,
    publishing: Publishing | None = None,
) -> set[str]:
    """Publishes the batches in order, retrying each until it is acknowledged (202); a refused
    connection, a timeout or a 503 means "try again". Returns the acknowledged ids; the indexes
    of the batches answered 503 go to ``unavailable``, the progress to ``publishing``."""
    seen = publishing if publishing is not None else Publishing()
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {config.keys[ONESTOP]}"}, timeout=10
    ) as client:
        for index, batch in enumerate(batches):
            on_batch(index)
            while True:
                seen.in_flight = index
                try:
                    reply = await client.post("/v1/events", json=batch, headers=BATCH_HEADERS)
                except httpx.TransportError as exc:
                    seen.transport_errors.append(type(exc).__name__)
                    await asyncio.sleep(0.2)  # the bus is down: a real client retries
                    continue
                finally:
                    seen.in_flight = None
                if reply.status_code == 202:
                    seen.acknowledged.update(e["id"] for e in reply.json()["events"])
                    break
                assert reply.status_code == 503, reply.text
                assert reply.json()["code"] == "unavailable"
                if unavailable is not None:
                    unavailable.append(index)
                await asyncio.sleep(0.2)
    seen.finished = True
    return seen.acknowledged


async def wait_for_ids(receiver: Receiver, ids: set[str], timeout: float) -> None:
    """Until the receiver got every one of ``ids`` (returns at the timeout; the checks then fail)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if {e["id"] for e in delivered(receiver.received)} >= ids:
            return
        await asyncio.sleep(0.2)


@dataclass(frozen=True)
class AtKill:
    """The stream as it stood when the bus process was dead (killed and reaped)."""

    batch: int  # the batch whose request was awaiting its answer
    acknowledged: frozenset[str]
    received: frozenset[str]

    @property
    def undelivered(self) -> frozenset[str]:
        """Acknowledged by the killed process, not yet answered 200 by the receiver."""
        return self.acknowledged - self.received


@dataclass(frozen=True)
class KillRun:
    acknowledged: set[str]
    at_kill: AtKill
    transport_errors: list[str]


async def publish_through_kill_9(
    config: BusConfig, batches: list[list[dict[str, Any]]], kill_after: int, receiver: Receiver
) -> KillRun:
    """Publishes ``batches`` to a bus process on ``config``, kill -9s the bus mid-stream and starts
    it again; checks that every event was acknowledged and waits for ``receiver`` to get them
    before stopping the bus. Returns what was acknowledged, and what stood at the kill for
    :func:`check_killed_mid_stream`.

    The moment of the kill is made, not hoped for: the receiver keeps up with the publisher, so a
    kill at a random moment often finds every acknowledged event delivered. Once batch
    ``kill_after`` is being published, the receiver holds the first delivery request that carries
    an acknowledged event (it answers 200 only after ``HOLD_S``), and the bus is killed while that
    request is held and a publish request is in flight. The subscription's retry budget does not
    matter: the bus is dead before its sink timeout ends the held call."""
    publishing = Publishing()
    struck = asyncio.Event()
    striking = threading.Event()  # the same, for the receiver's thread
    holding = threading.Event()
    at_kill: list[AtKill] = []

    def hold_an_acknowledged_event(request: Received) -> bool:
        if not striking.is_set() or holding.is_set():
            return False
        if any(event["id"] in publishing.acknowledged for event in delivered([request])):
            holding.set()
            return True
        return False

    receiver.fail_when(hold_an_acknowledged_event, Fault(200, delay_s=HOLD_S), times=1)
    bus = BusProcess(config).start()
    try:

        def strike(index: int) -> None:
            if index == kill_after:
                striking.set()
                struck.set()

        async def kill_and_restart() -> None:
            await struck.wait()
            # Waits for the state the kill must hit, not for time; if the stream ends first, the
            # checks fail.
            while not (holding.is_set() and publishing.in_flight is not None) and not publishing.finished:
                await asyncio.sleep(0.001)
            batch = publishing.in_flight
            bus.kill()
            # Nothing awaited since the check: the publisher has not moved. Whatever the receiver
            # has not answered by now, the bus had not committed: still in flight, to be delivered
            # by the next process.
            received = frozenset(e["id"] for e in delivered(receiver.received))
            at_kill.append(
                AtKill(-1 if batch is None else batch, frozenset(publishing.acknowledged), received)
            )
            await asyncio.to_thread(bus.start)

        acknowledged, _ = await asyncio.gather(
            publish_stream(bus.url, config, batches, strike, publishing=publishing), kill_and_restart()
        )
        assert len(acknowledged) == sum(len(batch) for batch in batches)
        # on Kafka the dead member holds its partitions until the group's session timeout (10 s)
        await wait_for_ids(receiver, acknowledged, timeout=120)
    finally:
        bus.stop()
        receiver.clear_faults()
    return KillRun(acknowledged, at_kill[0], publishing.transport_errors)


def check_killed_mid_stream(run: KillRun, batches: int, got: list[dict[str, Any]]) -> None:
    """The kill landed mid-stream: a request was in flight with batches left to publish, the
    publisher saw the bus go (a cut-off request or a refused connection, then retried), and some
    acknowledged events had not reached the receiver; those were delivered after the restart."""
    at_kill = run.at_kill
    assert 0 <= at_kill.batch < batches - 1, f"killed at batch {at_kill.batch} of {batches}"
    assert run.transport_errors, "the publisher never saw the bus go: the kill missed the stream"
    assert at_kill.acknowledged, "killed before anything was acknowledged"
    # received < acknowledged, counted over the acknowledged ids: the receiver may already hold
    # events whose 202 the publisher had not read yet
    assert at_kill.undelivered, (
        f"at the kill, all {len(at_kill.acknowledged)} acknowledged events were already received"
    )
    assert at_kill.undelivered <= {e["id"] for e in got}, "acknowledged events in flight were lost"


def first_sequences(events: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Sequences per subject, first occurrence of each id only (redelivery may repeat some)."""
    seen: set[str] = set()
    out: dict[str, list[int]] = defaultdict(list)
    for event in events:
        if event["id"] in seen:
            continue
        seen.add(str(event["id"]))
        subject, sequence = sequence_of(event)
        out[subject].append(sequence)
    return out


def check_delivered(
    got: list[dict[str, Any]], acknowledged: set[str], subjects: int, per_subject: int
) -> None:
    """Every acknowledged event arrived; duplicates only under the same id; the first delivery of
    each event came in publish order per subject, with no gap."""
    ids = {e["id"] for e in got}
    assert ids >= acknowledged, f"{len(acknowledged - ids)} acknowledged events were lost"
    by_position: dict[tuple[str, int], set[str]] = defaultdict(set)
    for event in got:
        by_position[sequence_of(event)].add(event["id"])
    assert all(len(same) == 1 for same in by_position.values())
    first_seen = first_sequences(got)
    assert len(first_seen) == subjects
    for subject, sequences in first_seen.items():
        assert sequences == list(range(per_subject)), subject
