"""The state database stopped mid-stream, then started again: two ``lienthong serve`` processes on
Kafka, their state in a PostgreSQL cluster of the test's own, which the test stops for real
(``pg_ctl stop -m fast``) while events are published through both, and starts again after
LIENTHONG_TEST_STATE_OUTAGE_S seconds (default 30). Meanwhile every publish is answered 503 with
Retry-After, ``/readyz`` of both says not ready, and a delivery that must dead-letter waits. Then,
without a restart of either process: both ready again, publishes accepted, every acknowledged
event delivered or (its sink refusing it) in the dead letters, the one that waited included, its
subject held until the letters are replayed."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests.support.bus import ONESTOP, OPERATOR, PORTAL, BusConfig, BusProcess
from tests.support.events import dossier_code, publish, status_changed
from tests.support.kafka import on_kafka, unique
from tests.support.postgres import Cluster
from tests.support.receiver import Fault, Receiver
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

OUTAGE_S = float(os.environ.get("LIENTHONG_TEST_STATE_OUTAGE_S", "30"))
SUBJECTS = 12
FAILING = dossier_code(0)  # the subject whose events the sink refuses: its letters need the database
DSN_ENV = "LIENTHONG_TEST_STATE_DSN"
KEYS = {
    "LIENTHONG_AUDIT_KEY": "state outage test subject key, thirty-two characters or more",
    "LIENTHONG_AUDIT_CHAIN_KEY": "state outage test chain key, thirty-two characters or more",
}
NAMED = {"X-Official-Id": "citizen:self"}
PATIENCE_S = 120.0
wait_for = partial(wait_until, within=PATIENCE_S, every=0.2)


def ready(bus: BusProcess) -> int:
    return httpx.get(f"{bus.url}/readyz", timeout=30).status_code


@pytest.fixture
def two_buses_own_database(tmp_path: Path) -> Iterator[tuple[list[BusProcess], Receiver, Cluster]]:
    cluster = Cluster()
    try:
        with pytest.MonkeyPatch.context() as env, Receiver() as sink:
            env.setenv(DSN_ENV, cluster.dsn)
            for name, value in KEYS.items():
                env.setenv(name, value)
            transport = on_kafka(unique("state-outage") + ".")
            sections = {"state": {"postgres": {"dsn_env": DSN_ENV, "timeout": "2s"}}}
            first = BusConfig(tmp_path / "a", transport=transport, sections=sections)
            # retries spread over seconds: the failing subject's letter is written well after its
            # publish, while the database is away
            retry = {"max_attempts": 4, "max_elapsed": "30s", "initial_backoff": "1s", "max_backoff": "2s"}
            first.subscribe("portal", sink.url, on_dead_letter="hold_subject", retry=retry)
            second = BusConfig(
                tmp_path / "b",
                transport=transport,
                sections=sections,
                keys=first.keys,
                subscriptions=first.subscriptions,
            )
            for config in (first, second):
                config.directory.mkdir()
            buses = [BusProcess(first), BusProcess(second)]
            try:
                with ThreadPoolExecutor(len(buses)) as starting:
                    list(starting.map(lambda bus: bus.start(timeout=120), buses))
                yield buses, sink, cluster
            finally:
                for bus in buses:
                    bus.stop()
    finally:
        cluster.remove()


def test_the_database_stopped_mid_stream_loses_nothing_and_the_bus_recovers_without_a_restart(
    two_buses_own_database: tuple[list[BusProcess], Receiver, Cluster],
) -> None:
    buses, sink, cluster = two_buses_own_database
    a, b = buses
    sink.fail_when(lambda received: received.headers.get("ce-subject") == FAILING, Fault(status=503))
    clients = [a.client(ONESTOP), b.client(ONESTOP)]
    acknowledged: list[str] = []
    refused: list[httpx.Response] = []
    sequence = 0

    def publish_round() -> None:
        """One event for each subject, through the two processes in turn."""
        nonlocal sequence
        sequence += 1
        for subject in range(SUBJECTS):
            event = status_changed(subject, sequence)
            reply = publish(clients[subject % 2], event)
            if reply.status_code == 202:
                acknowledged.append(str(event["id"]))
            else:
                refused.append(reply)

    try:
        for _ in range(3):
            publish_round()
        assert not refused
        waiting = str(status_changed(0, sequence)["id"])  # the failing subject's last, in its retries
        cluster.stop()  # for real: the server gone, the pools' connections closed
        stopped = time.monotonic()
        wait_for(lambda: ready(a) == 503 and ready(b) == 503, "both processes not ready")
        while time.monotonic() - stopped < OUTAGE_S:
            publish_round()
            assert ready(a) == 503 and ready(b) == 503  # for as long as it lasts
            time.sleep(1)
        outage_refused = len(refused)
        # the processes stay up, and the dead letters wait with the database
        with a.client(PORTAL) as client:
            listing = client.get("/v1/subscriptions/portal/dead-letters")
        assert listing.status_code == 503, listing.text
        cluster.start()
    finally:
        for client in clients:
            client.close()
    # every publish of the outage refused, and told when to come back
    assert outage_refused >= SUBJECTS
    for reply in refused:
        assert reply.status_code == 503, reply.text
        assert reply.headers["Retry-After"]
        assert reply.json()["code"] == "unavailable"
    assert all(bus.process is not None and bus.process.poll() is None for bus in buses)  # no restart

    wait_for(lambda: ready(a) == 200 and ready(b) == 200, "both ready again, unrestarted")
    clients = [a.client(ONESTOP), b.client(ONESTOP)]
    try:
        refused.clear()
        publish_round()
        assert not refused, [reply.text for reply in refused]
    finally:
        for client in clients:
            client.close()

    def letters() -> set[str]:
        with b.client(PORTAL) as client:
            reply = client.get("/v1/subscriptions/portal/dead-letters", params={"limit": 1000})
        assert reply.status_code == 200, reply.text
        return {str(letter["event_id"]) for letter in reply.json()}

    def delivered() -> set[str]:
        return {request.headers["ce-id"] for request in list(sink.received)}

    failing = {event_id for event_id in acknowledged if event_id.startswith(FAILING + "#")}
    healthy = set(acknowledged) - failing
    wait_for(lambda: healthy <= delivered(), f"the {len(healthy)} acknowledged healthy events delivered")
    # the failing subject's events, the one that waited through the outage included: letters
    wait_for(lambda: failing <= letters(), "every event of the failing subject a dead letter")
    assert waiting in letters()
    assert not failing & delivered()  # held: none of them delivered while its letters are there
    sink.clear_faults()
    with a.client(OPERATOR) as client:
        replayed = client.post(
            "/v1/subscriptions/portal/dead-letters/replay", json={"all": True}, headers=NAMED
        )
    assert replayed.status_code == 200, replayed.text
    wait_for(lambda: set(acknowledged) <= delivered(), "every acknowledged event delivered")
    print(
        f"\ndatabase stopped {OUTAGE_S:g} s: {outage_refused} publishes refused, "
        f"{len(acknowledged)} acknowledged, all delivered"
    )
