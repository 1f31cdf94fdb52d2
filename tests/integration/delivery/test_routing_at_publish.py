"""Routing at publish on the embedded log: a bus that finds published events it has not routed
(a log left by a bus that routed in a loop, stopped with a backlog) routes them at start, before
anything it accepts; what it accepts then is routed in its own append, after them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from adapters.embedded import EmbeddedLog
from router.envelope import from_structured, to_message
from router.publishing import INBOUND_TOPIC
from tests.support.bus import ONESTOP, BusConfig, BusProcess
from tests.support.events import delivered, status_changed
from tests.support.receiver import Receiver


async def leave_unrouted(path: Path, *events: dict[str, object]) -> None:
    """Appends published events to the inbound topic only, as if no router had read them yet."""
    log = EmbeddedLog(path, default_partitions=4)
    await log.start()
    try:
        await log.append(INBOUND_TOPIC, [to_message(from_structured(event)) for event in events])
    finally:
        await log.close()


def publish(bus: BusProcess, event: dict[str, object]) -> None:
    answer = httpx.post(
        f"{bus.url}/v1/events",
        json=event,
        headers={
            "Authorization": f"Bearer {bus.config.keys[ONESTOP]}",
            "Content-Type": "application/cloudevents+json",
        },
        timeout=30,
    )
    assert answer.status_code == 202, answer.text


def test_a_backlog_left_unrouted_is_delivered_before_what_comes_after(tmp_path: Path) -> None:
    with Receiver() as portal:
        config = BusConfig(tmp_path).subscribe("portal", portal.url)
        with BusProcess(config) as bus:
            publish(bus, status_changed(1, 1))
            asyncio.run(portal.wait_for(1))
        asyncio.run(leave_unrouted(tmp_path / "bus.db", status_changed(1, 2), status_changed(1, 3)))

        with BusProcess(config) as bus:
            publish(bus, status_changed(1, 4))
            asyncio.run(portal.wait_for(4))

        got = [event["id"] for event in delivered(portal.received)]
    code = status_changed(1, 1)["subject"]
    assert got == [f"{code}#{sequence}" for sequence in (1, 2, 3, 4)]
