"""kill -9 the bus in the middle of a stream of 5,000 events, restart it, and check that every
acknowledged event is delivered, in order per subject, with duplicates only under the same id."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.support.bus import BusConfig, BusProcess
from tests.support.events import delivered
from tests.support.receiver import Receiver
from tests.support.streams import check_delivered, publish_stream, stream, wait_for_ids

EVENTS = 5_000
BATCH = 50
SUBJECTS = 100
KILL_AFTER_BATCHES = 40


@pytest.mark.slow
async def test_kill_9_mid_stream_loses_nothing_acknowledged(tmp_path: Path) -> None:
    killed = asyncio.Event()
    with Receiver() as portal:
        config = BusConfig(tmp_path).subscribe("portal", portal.url, batch=10)
        bus = BusProcess(config).start()
        try:

            def strike(index: int) -> None:
                if index == KILL_AFTER_BATCHES:
                    killed.set()  # the killer strikes while the next batches are in flight

            async def kill_and_restart() -> None:
                await killed.wait()
                await asyncio.sleep(0.05)
                bus.kill()
                await asyncio.to_thread(bus.start)

            acknowledged, _ = await asyncio.gather(
                publish_stream(bus.url, config, stream(EVENTS, SUBJECTS, BATCH), strike), kill_and_restart()
            )
            assert len(acknowledged) == EVENTS
            await wait_for_ids(portal, acknowledged, timeout=120)
        finally:
            bus.stop()
        got = delivered(portal.received)
    check_delivered(got, acknowledged, SUBJECTS, EVENTS // SUBJECTS)
