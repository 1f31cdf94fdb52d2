"""Graceful shutdown and health, on a real ``lienthong serve``.

SIGTERM in the middle of a stream: the bus exits 0, and after a restart every acknowledged event
is delivered (duplicates only under the same id). SIGTERM while the sink is down: the deliveries
waiting on it give up their batch at once (uncommitted, so delivered at the next start) instead of
holding the shutdown for the whole drain bound. ``/readyz`` follows the circuit of a critical sink;
``/healthz`` is liveness only.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from tests.support.bus import ONESTOP, OPERATOR, BusConfig, BusProcess
from tests.support.events import delivered, status_changed
from tests.support.receiver import Fault, Receiver
from tests.support.streams import check_delivered, publish_stream, stream, wait_for_ids

EVENTS = 3_000
BATCH = 50
SUBJECTS = 60
TERMINATE_AFTER_BATCHES = 20
STRUCTURED = {"Content-Type": "application/cloudevents+json"}


def stopped_lines(bus: BusProcess) -> list[str]:
    """The messages of the bus's "lienthong stopped" log lines (JSON lines: stdout is no terminal)."""
    lines = [json.loads(line) for line in bus.log.read_text().splitlines() if line.strip()]
    return [line["message"] for line in lines if line["message"].startswith("lienthong stopped")]


@pytest.mark.slow
async def test_sigterm_mid_stream_exits_0_and_loses_nothing_acknowledged(tmp_path: Path) -> None:
    terminate = asyncio.Event()
    with Receiver() as portal:
        config = BusConfig(tmp_path).subscribe("portal", portal.url, batch=10)
        bus = BusProcess(config).start()
        exit_codes: list[int] = []
        try:

            def strike(index: int) -> None:
                if index == TERMINATE_AFTER_BATCHES:
                    terminate.set()

            async def terminate_and_restart() -> None:
                await terminate.wait()
                exit_codes.append(await asyncio.to_thread(bus.terminate))
                await asyncio.to_thread(bus.start)

            acknowledged, _ = await asyncio.gather(
                publish_stream(bus.url, config, stream(EVENTS, SUBJECTS, BATCH), strike),
                terminate_and_restart(),
            )
            assert exit_codes == [0]
            assert len(acknowledged) == EVENTS
            await wait_for_ids(portal, acknowledged, timeout=120)
        finally:
            bus.stop()
        got = delivered(portal.received)
    check_delivered(got, acknowledged, SUBJECTS, EVENTS // SUBJECTS)
    # the first stop finished its loops itself, none had to be cancelled at the drain bound
    assert stopped_lines(bus)[0].endswith(", 0 cancelled)")


async def test_sigterm_with_the_sink_down_does_not_wait_for_it_and_loses_nothing(tmp_path: Path) -> None:
    with Receiver() as portal:
        portal.fail_when(lambda _: True, Fault(503))
        config = BusConfig(tmp_path).subscribe(
            "portal",
            portal.url,
            # a long budget: without the drain, the shutdown would wait on the open circuit until
            # the drain bound and cancel the delivery
            retry={
                "max_attempts": 1000,
                "max_elapsed": "10m",
                "initial_backoff": "20ms",
                "max_backoff": "1s",
            },
            breaker={"failure_threshold": 3, "reset_timeout": "5m"},  # within the budget: waited for
        )
        bus = BusProcess(config).start()
        try:
            events = [status_changed(n, 0) for n in range(5)]
            with bus.client(ONESTOP) as client:
                for event in events:
                    assert client.post("/v1/events", json=event, headers=STRUCTURED).status_code == 202
            while len(portal.requests) < 3:  # the circuit opened: the delivery is waiting on it
                await asyncio.sleep(0.05)
            assert await asyncio.to_thread(bus.terminate) == 0
            # the delivery's loop: the embedded log routes at publish, the router has no loop
            assert stopped_lines(bus) == ["lienthong stopped (1 loops drained, 0 cancelled)"]
            portal.clear_faults()
            bus.start()
            await wait_for_ids(portal, {e["id"] for e in events}, timeout=60)
            with bus.client(OPERATOR) as client:
                assert client.get("/v1/subscriptions/portal").json()["dead_letters"] == 0
        finally:
            bus.stop()
    assert {e["id"] for e in delivered(portal.received)} == {e["id"] for e in events}


async def test_readyz_follows_a_critical_sinks_circuit_and_healthz_does_not(tmp_path: Path) -> None:
    with Receiver() as critical, Receiver() as optional:
        config = BusConfig(tmp_path)
        config.subscribe("portal", critical.url, breaker={"failure_threshold": 2, "reset_timeout": "300ms"})
        config.subscriptions[-1]["critical"] = True
        config.subscribe("archive", optional.url, breaker={"failure_threshold": 2, "reset_timeout": "10m"})
        optional.fail_when(lambda _: True, Fault(503))
        with BusProcess(config) as bus, httpx.Client(base_url=bus.url, timeout=10) as http:
            ready = http.get("/readyz").json()
            assert ready["checks"]["sink:portal"] is True
            assert "sink:archive" not in ready["checks"]
            critical.fail_when(lambda _: True, Fault(503))
            with bus.client(ONESTOP) as client:
                assert (
                    client.post("/v1/events", json=status_changed(1, 0), headers=STRUCTURED).status_code
                    == 202
                )
            reply = await until_status(http, 503)
            assert reply.json()["code"] == "unavailable"
            assert "sink:portal" in reply.json()["detail"]
            assert http.get("/healthz").status_code == 200  # alive, only not ready
            critical.clear_faults()  # the next probe closes the circuit
            reply = await until_status(http, 200)
            assert reply.json()["checks"]["sink:portal"] is True
            with bus.client(OPERATOR) as client:
                assert client.get("/v1/subscriptions/archive").json()["circuit"] == "open"


async def until_status(http: httpx.Client, status: int) -> httpx.Response:
    for _ in range(600):
        reply = http.get("/readyz")
        if reply.status_code == status:
            return reply
        await asyncio.sleep(0.05)
    raise AssertionError(f"/readyz never answered {status}: {reply.text}")
