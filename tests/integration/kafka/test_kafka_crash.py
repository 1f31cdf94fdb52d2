"""Crashes on Kafka: kill -9 a bus process in the middle of a stream of 20,000 events, and restart
the broker itself during a stream. Every acknowledged event is delivered, in order per subject,
with duplicates only under the same id."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.bus import BusConfig, BusProcess
from tests.support.events import delivered
from tests.support.kafka import local_broker, on_kafka, start_broker, stop_broker, unique
from tests.support.receiver import Receiver
from tests.support.streams import (
    check_delivered,
    check_killed_mid_stream,
    publish_stream,
    publish_through_kill_9,
    stream,
    wait_for_ids,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SUBJECTS = 200
BATCH = 100


async def test_kill_9_mid_stream_of_20000_loses_nothing_acknowledged(tmp_path: Path) -> None:
    events, kill_after = 20_000, 60
    with Receiver() as portal:
        config = BusConfig(tmp_path, transport=on_kafka(unique("crash") + ".")).subscribe(
            "portal", portal.url, batch=50
        )
        batches = stream(events, SUBJECTS, BATCH)
        run = await publish_through_kill_9(config, batches, kill_after, portal)
        got = delivered(portal.received)
    check_killed_mid_stream(run, len(batches), got)
    check_delivered(got, run.acknowledged, SUBJECTS, events // SUBJECTS)


async def test_broker_restart_mid_stream_loses_nothing_acknowledged(tmp_path: Path) -> None:
    local_broker()
    events, stop_after = 4_000, 10
    struck = asyncio.Event()
    unavailable: list[int] = []
    with Receiver() as portal:
        config = BusConfig(tmp_path, transport=on_kafka(unique("broker") + ".")).subscribe(
            "portal", portal.url, batch=50
        )
        with BusProcess(config) as bus:

            def strike(index: int) -> None:
                if index == stop_after:
                    struck.set()

            async def restart_broker() -> None:
                await struck.wait()
                await asyncio.to_thread(stop_broker)
                # down until a publish was refused with 503 (appends give up after 5 s), at most 60 s
                for _ in range(600):
                    if unavailable:
                        break
                    await asyncio.sleep(0.1)
                await asyncio.to_thread(start_broker)

            try:
                acknowledged, _ = await asyncio.gather(
                    publish_stream(bus.url, config, stream(events, SUBJECTS, BATCH), strike, unavailable),
                    restart_broker(),
                )
            finally:
                await asyncio.to_thread(start_broker)  # the next tests need it, whatever happened
            assert len(acknowledged) == events
            assert unavailable, "publishing while the broker was down should have been answered 503"
            await wait_for_ids(portal, acknowledged, timeout=120)
        got = delivered(portal.received)
    check_delivered(got, acknowledged, SUBJECTS, events // SUBJECTS)
