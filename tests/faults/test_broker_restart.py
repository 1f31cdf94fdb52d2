"""The Kafka broker stopped and started again, several times, while a ``lienthong serve`` process
routes a stream of events and delivers it to a webhook receiver that does not deduplicate.

Nothing acknowledged is lost, no subject's sequence goes backwards at the receiver (a replay of
the topics from their beginning would send every subject back), duplicates stay within a batch
in flight per restart, and the bus's log stays readable while the broker is away.

LIENTHONG_FAULT_RESTARTS sets the number of restarts (3 by default; docs/kafka.md reports a run
of 10)."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.faults.arrivals import count_arrivals
from tests.support.bus import BusConfig, BusProcess
from tests.support.events import delivered
from tests.support.kafka import local_broker, on_kafka, start_broker, stop_broker, unique
from tests.support.receiver import Receiver
from tests.support.streams import Publishing, publish_stream, stream, wait_for_ids

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

RESTARTS = int(os.environ.get("LIENTHONG_FAULT_RESTARTS", "3"))
SUBJECTS = 200
BATCH = 100  # events per publish request
BATCHES_BETWEEN = 30  # publish requests acknowledged between two restarts
DOWN_S = 10.0  # how long the broker stays down each time
# What may be in flight when the broker stops, and so appended twice: the publish request (its
# events durable, its answer a 503, published again) and the batch the router fetched
# (router.consuming.ConsumeLoop's max_messages).
IN_FLIGHT = BATCH + 1000
MAX_LOG_LINES_PER_RESTART = 100


@dataclass
class Restarts:
    """The bus log's line count when each restart began, and when the broker was back."""

    stopped_at: list[int] = field(default_factory=list)
    started_at: list[int] = field(default_factory=list)

    def lines_per_restart(self, final: int) -> list[int]:
        ends = [*self.stopped_at[1:], final]
        return [end - start for start, end in zip(self.stopped_at, ends, strict=True)]

    def lines_while_down(self) -> list[int]:
        return [up - down for down, up in zip(self.stopped_at, self.started_at, strict=True)]


def log_lines(bus: BusProcess) -> int:
    return bus.log.read_bytes().count(b"\n")


async def test_broker_restarts_mid_stream_lose_nothing_and_never_go_backwards(tmp_path: Path) -> None:
    local_broker()
    batches = stream(BATCH * BATCHES_BETWEEN * (RESTARTS + 1), SUBJECTS, BATCH)
    due = asyncio.Queue[int]()
    restarts = Restarts()
    refused: list[int] = []  # publish requests answered 503
    publishing = Publishing()
    with Receiver() as portal:
        config = BusConfig(tmp_path, transport=on_kafka(unique("faults") + ".")).subscribe(
            "portal", portal.url, batch=50
        )
        with BusProcess(config) as bus:

            def on_batch(index: int) -> None:
                if index and index % BATCHES_BETWEEN == 0 and index // BATCHES_BETWEEN <= RESTARTS:
                    due.put_nowait(index)

            async def restart_broker_when_due() -> None:
                for _ in range(RESTARTS):
                    await due.get()
                    restarts.stopped_at.append(log_lines(bus))
                    await asyncio.to_thread(stop_broker)
                    await asyncio.sleep(DOWN_S)  # the outage itself, not a wait for a result
                    await asyncio.to_thread(start_broker)
                    restarts.started_at.append(log_lines(bus))

            try:
                acknowledged, _ = await asyncio.gather(
                    publish_stream(bus.url, config, batches, on_batch, refused, publishing),
                    restart_broker_when_due(),
                )
            finally:
                await asyncio.to_thread(start_broker)  # the next tests need it, whatever happened
            await wait_for_ids(portal, acknowledged, timeout=120)
            final = log_lines(bus)
        arrivals = count_arrivals(delivered(portal.received), acknowledged)
    lines = restarts.lines_per_restart(final)
    report = (
        f"{RESTARTS} restarts: {arrivals.summary()}; log lines per restart {lines} "
        f"(while down: {restarts.lines_while_down()}); publish requests answered 503: "
        f"{len(refused)}, cut off: {len(publishing.transport_errors)}"
    )
    print(report)
    assert len(acknowledged) == sum(len(batch) for batch in batches), report
    assert not arrivals.lost, report
    assert arrivals.backwards == 0, report
    assert arrivals.duplicates <= RESTARTS * IN_FLIGHT, report
    assert max(lines) < MAX_LOG_LINES_PER_RESTART, report
