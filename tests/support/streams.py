"""A stream of events published over HTTP by a client that retries as a real one would, and the
checks of what a receiver got: nothing acknowledged lost, order per subject, duplicates only
under the same id. Shared by the crash tests of every transport."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.bus import ONESTOP, BusConfig, BusProcess
from tests.support.events import delivered, sequence_of, status_changed
from tests.support.receiver import Receiver

BATCH_HEADERS = {"Content-Type": "application/cloudevents-batch+json"}


def stream(events: int, subjects: int, batch: int) -> list[list[dict[str, Any]]]:
    """``events`` events over ``subjects`` subjects (sequence n // subjects), in batches."""
    items = [status_changed(n % subjects, n // subjects) for n in range(events)]
    return [items[i : i + batch] for i in range(0, events, batch)]


async def publish_stream(
    url: str,
    config: BusConfig,
    batches: list[list[dict[str, Any]]],
    on_batch: Callable[[int], None] = lambda index: None,
    unavailable: list[int] | None = None,
) -> set[str]:
    """Publishes the batches in order, retrying each until it is acknowledged (202); a refused
    connection, a timeout or a 503 means "try again". Returns the acknowledged ids; the indexes
    of the batches answered 503 go to ``unavailable``."""
    acknowledged: set[str] = set()
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {config.keys[ONESTOP]}"}, timeout=10
    ) as client:
        for index, batch in enumerate(batches):
            on_batch(index)
            while True:
                try:
                    reply = await client.post("/v1/events", json=batch, headers=BATCH_HEADERS)
                except httpx.TransportError:
                    await asyncio.sleep(0.2)  # the bus is down: a real client retries
                    continue
                if reply.status_code == 202:
                    acknowledged.update(e["id"] for e in reply.json()["events"])
                    break
                assert reply.status_code == 503, reply.text
                assert reply.json()["code"] == "unavailable"
                if unavailable is not None:
                    unavailable.append(index)
                await asyncio.sleep(0.2)
    return acknowledged


async def wait_for_ids(receiver: Receiver, ids: set[str], timeout: float) -> None:
    """Until the receiver got every one of ``ids`` (returns at the timeout; the checks then fail)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if {e["id"] for e in delivered(receiver.received)} >= ids:
            return
        await asyncio.sleep(0.2)


async def publish_through_kill_9(
    config: BusConfig, batches: list[list[dict[str, Any]]], kill_after: int, receiver: Receiver
) -> set[str]:
    """Publishes ``batches`` to a bus process on ``config``, kill -9s the bus once batch
    ``kill_after`` is being published and starts it again; checks that every event was
    acknowledged and waits for ``receiver`` to get them before stopping the bus. Returns the
    acknowledged ids."""
    killed = asyncio.Event()
    bus = BusProcess(config).start()
    try:

        def strike(index: int) -> None:
            if index == kill_after:
                killed.set()  # the killer strikes while the next batches are in flight

        async def kill_and_restart() -> None:
            await killed.wait()
            await asyncio.sleep(0.05)
            bus.kill()
            await asyncio.to_thread(bus.start)

        acknowledged, _ = await asyncio.gather(
            publish_stream(bus.url, config, batches, strike), kill_and_restart()
        )
        assert len(acknowledged) == sum(len(batch) for batch in batches)
        # on Kafka the dead member holds its partitions until the group's session timeout (10 s)
        await wait_for_ids(receiver, acknowledged, timeout=120)
    finally:
        bus.stop()
    return acknowledged


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
