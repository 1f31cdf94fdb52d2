"""kill -9 the bus in the middle of a stream of 5,000 events, restart it, and check that every
acknowledged event is delivered, in order per subject, with duplicates only under the same id."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from tests.support.bus import ONESTOP, BusConfig, BusProcess
from tests.support.events import delivered, sequence_of, status_changed
from tests.support.receiver import Receiver

EVENTS = 5_000
BATCH = 50
SUBJECTS = 100
KILL_AFTER_BATCHES = 40


@pytest.mark.slow
async def test_kill_9_mid_stream_loses_nothing_acknowledged(tmp_path: Path) -> None:
    events = [status_changed(n % SUBJECTS, n // SUBJECTS) for n in range(EVENTS)]
    batches = [events[i : i + BATCH] for i in range(0, EVENTS, BATCH)]
    acknowledged: set[str] = set()
    killed = asyncio.Event()
    with Receiver() as portal:
        config = BusConfig(tmp_path).subscribe("portal", portal.url, batch=10)
        bus = BusProcess(config).start()
        try:

            async def publish() -> None:
                async with httpx.AsyncClient(
                    base_url=bus.url, headers={"Authorization": f"Bearer {config.keys[ONESTOP]}"}, timeout=10
                ) as client:
                    for index, batch in enumerate(batches):
                        if index == KILL_AFTER_BATCHES:
                            killed.set()  # the killer strikes while the next batches are in flight
                        while True:
                            try:
                                reply = await client.post(
                                    "/v1/events",
                                    json=batch,
                                    headers={"Content-Type": "application/cloudevents-batch+json"},
                                )
                            except httpx.TransportError:
                                await asyncio.sleep(0.2)  # the bus is down: a real client retries
                                continue
                            if reply.status_code == 202:
                                acknowledged.update(e["id"] for e in reply.json()["events"])
                                break
                            assert reply.status_code == 503, reply.text
                            await asyncio.sleep(0.2)

            async def kill_and_restart() -> None:
                await killed.wait()
                await asyncio.sleep(0.05)
                bus.kill()
                await asyncio.to_thread(bus.start)

            await asyncio.gather(publish(), kill_and_restart())
            assert len(acknowledged) == EVENTS
            for _ in range(600):
                if {e["id"] for e in delivered(portal.received)} >= acknowledged:
                    break
                await asyncio.sleep(0.2)
        finally:
            bus.stop()
        got = delivered(portal.received)

    ids = [e["id"] for e in got]
    assert set(ids) >= acknowledged, f"{len(acknowledged - set(ids))} acknowledged events were lost"
    # duplicates only with the same id: one id per (subject, sequence), one payload per id
    by_position: dict[tuple[str, int], set[str]] = defaultdict(set)
    for event in got:
        by_position[sequence_of(event)].add(event["id"])
    assert all(len(same) == 1 for same in by_position.values())
    # order per subject: the first delivery of each event comes in publish order
    first_seen: dict[str, list[int]] = defaultdict(list)
    seen: set[str] = set()
    for event in got:
        if event["id"] not in seen:
            seen.add(event["id"])
            subject, sequence = sequence_of(event)
            first_seen[subject].append(sequence)
    assert len(first_seen) == SUBJECTS
    for subject, sequences in first_seen.items():
        assert sequences == sorted(sequences), subject
        assert sequences == list(range(EVENTS // SUBJECTS)), subject
