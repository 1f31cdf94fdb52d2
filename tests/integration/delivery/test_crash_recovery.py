"""kill -9 the bus in the middle of a stream of 5,000 events, restart it, and check that every
acknowledged event is delivered, in order per subject, with duplicates only under the same id.
The kill is checked to have landed mid-stream: a publish cut off, acknowledged events not yet
delivered (those are then delivered by the restarted bus)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.bus import BusConfig
from tests.support.events import delivered
from tests.support.receiver import Receiver
from tests.support.streams import check_delivered, check_killed_mid_stream, publish_through_kill_9, stream

EVENTS = 5_000
BATCH = 50
SUBJECTS = 100
KILL_AFTER_BATCHES = 40


@pytest.mark.slow
async def test_kill_9_mid_stream_loses_nothing_acknowledged(tmp_path: Path) -> None:
    with Receiver() as portal:
        config = BusConfig(tmp_path).subscribe("portal", portal.url, batch=10)
        batches = stream(EVENTS, SUBJECTS, BATCH)
        run = await publish_through_kill_9(config, batches, KILL_AFTER_BATCHES, portal)
        got = delivered(portal.received)
    check_killed_mid_stream(run, len(batches), got)
    check_delivered(got, run.acknowledged, SUBJECTS, EVENTS // SUBJECTS)
