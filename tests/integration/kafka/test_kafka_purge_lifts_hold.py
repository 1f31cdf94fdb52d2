"""A purge of dead letters lifts a held subject in every process of the bus: two ``lienthong
serve`` processes on Kafka, their state in PostgreSQL, a subscription with ``on_dead_letter:
hold_subject``. A subject's event fails on the process that owns its partition, which holds the
subject; the subject's letters are purged through the *other* process; the subject's next event
is then delivered by the owner, not held behind letters that no longer exist.

Each process calls the sink at a path of its own, so the receiver tells which process delivered
(or failed) what: the owner of the subject is the process whose path its failed event reached."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from router.delivery import HELD_SUBJECT
from tests.support.bus import ONESTOP, OPERATOR, PORTAL, BusConfig, BusProcess
from tests.support.events import dossier_code, publish, status_changed
from tests.support.kafka import on_kafka, unique
from tests.support.postgres import fresh_database
from tests.support.receiver import Fault, Receiver
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

DSN_ENV = "LIENTHONG_TEST_STATE_DSN"
KEYS = {
    "LIENTHONG_AUDIT_KEY": "purge test subject key, thirty-two characters or more",
    "LIENTHONG_AUDIT_CHAIN_KEY": "purge test chain key, thirty-two characters or more",
}
SUBJECTS = 12  # warm-up subjects, over the 4 partitions
PATIENCE_S = 120.0
wait_for = partial(wait_until, within=PATIENCE_S, every=0.2)


@pytest.fixture
def two_buses(tmp_path: Path) -> Iterator[tuple[dict[str, BusProcess], Receiver]]:
    """Two processes of one bus, by the path each calls the sink at."""
    database = fresh_database()
    with pytest.MonkeyPatch.context() as env, Receiver() as sink:
        env.setenv(DSN_ENV, database)
        for name, value in KEYS.items():
            env.setenv(name, value)
        transport = on_kafka(unique("purge") + ".")
        sections = {"state": {"postgres": {"dsn_env": DSN_ENV, "timeout": "2s"}}}
        configs: dict[str, BusConfig] = {}
        keys: dict[str, str] = {}
        for name in ("a", "b"):
            config = BusConfig(tmp_path / name, transport=transport, sections=sections, keys=keys)
            config.subscribe("portal", f"{sink.url}/{name}", on_dead_letter="hold_subject")
            config.directory.mkdir()
            config.write()
            configs[f"{urlsplit(sink.url).path}/{name}"] = config
        buses = {path: BusProcess(config) for path, config in configs.items()}
        try:
            with ThreadPoolExecutor(len(buses)) as starting:
                list(starting.map(lambda bus: bus.start(timeout=120), buses.values()))
            yield buses, sink
        finally:
            for bus in buses.values():
                bus.stop()


def letters(bus: BusProcess) -> list[dict[str, object]]:
    with bus.client(PORTAL) as client:
        reply = client.get("/v1/subscriptions/portal/dead-letters", params={"limit": 1000})
    assert reply.status_code == 200, reply.text
    found: list[dict[str, object]] = reply.json()
    return found


def paths_of(sink: Receiver, event_id: object) -> set[str]:
    """The paths (processes) that called the sink with the event, whatever it answered."""
    return {request.path for request in list(sink.requests) if request.headers.get("ce-id") == event_id}


def test_a_purge_through_one_process_lifts_the_hold_of_the_process_that_holds_the_subject(
    two_buses: tuple[dict[str, BusProcess], Receiver],
) -> None:
    buses, sink = two_buses
    any_bus = next(iter(buses.values()))
    # both processes in the delivery group, each delivering its partitions' subjects: rounds of
    # events over the subjects until both have delivered some
    rounds: list[list[dict[str, object]]] = []

    def both_delivering() -> bool:
        if rounds and not all(paths_of(sink, e["id"]) for e in rounds[-1]):
            return False
        if {r.path for r in list(sink.requests)} == set(buses):
            return True
        rounds.append([status_changed(subject, len(rounds) + 1) for subject in range(SUBJECTS)])
        with any_bus.client(ONESTOP) as client:
            for event in rounds[-1]:
                assert publish(client, event).status_code == 202
        return False

    wait_for(both_delivering, "both processes delivering")

    # the subject's next event fails for good on its owner: a dead letter, and the subject held
    subject = dossier_code(0)
    failed = status_changed(0, len(rounds) + 1)
    sink.fail_when(lambda received: received.headers.get("ce-id") == failed["id"], Fault(status=400))
    with any_bus.client(ONESTOP) as client:
        assert publish(client, failed).status_code == 202
    wait_for(lambda: [x["event_id"] for x in letters(any_bus)] == [failed["id"]], "the failed event a letter")
    [owner_path] = paths_of(sink, failed["id"])
    owner = buses[owner_path]
    [other] = [bus for path, bus in buses.items() if path != owner_path]
    held = status_changed(0, len(rounds) + 2)
    with other.client(ONESTOP) as client:
        assert publish(client, held).status_code == 202
    wait_for(lambda: len(letters(any_bus)) == 2, "the next event of the subject held")
    assert letters(any_bus)[1]["event_id"] == held["id"]
    assert letters(any_bus)[1]["reason"] == HELD_SUBJECT

    # purged through the process that does not hold the subject
    with other.client(OPERATOR) as client:
        purged = client.delete("/v1/subscriptions/portal/dead-letters", params={"subject": subject})
    assert purged.status_code == 200, purged.text
    assert purged.json()["purged"] == 2

    # the subject's next event is delivered by its owner
    after = status_changed(0, len(rounds) + 3)
    with other.client(ONESTOP) as client:
        assert publish(client, after).status_code == 202

    def delivered_or_held() -> bool:
        return any(r.headers.get("ce-id") == after["id"] for r in list(sink.received)) or bool(letters(other))

    wait_for(delivered_or_held, "the event after the purge delivered (or held)")
    assert letters(other) == [], "the event after the purge was held behind purged letters"
    assert paths_of(sink, after["id"]) == {owner_path}
    # and the owner answers as ready as ever
    assert httpx.get(f"{owner.url}/readyz", timeout=30).status_code == 200
