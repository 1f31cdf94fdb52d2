"""Three ``lienthong serve`` processes of one bus on Kafka, their state in PostgreSQL: one is
killed (``kill -9``) mid-stream and its data folder deleted, another's folder deleted while it
runs, a webhook sink fails for some subjects so that dead letters and held subjects exist. Then
every acknowledged event is delivered, duplicates are only redeliveries (same id, same
Idempotency-Key), the order per subject is kept, the dead letters are listed and replayed through
another process, a held subject stays held until then, the audit records of all three are one
chain that ``lienthong audit verify`` passes, and a subject's access report is the same from each
process. Then the database is cut mid-stream: publishes get 503 with Retry-After, nothing
acknowledged is lost, and the bus goes on without a restart.

The stream's size comes from the environment: LIENTHONG_TEST_REPLICA_EVENTS events (default 300)
over LIENTHONG_TEST_REPLICA_SUBJECTS subjects (default 15); the issue's run is 20,000 over 200."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.bus import ONESTOP, OPERATOR, PORTAL, BusConfig, BusProcess
from tests.support.cli import lienthong
from tests.support.events import dossier_code, publish, status_changed
from tests.support.kafka import on_kafka, unique
from tests.support.postgres import fresh_database
from tests.support.receiver import Fault, Receiver
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

EVENTS = int(os.environ.get("LIENTHONG_TEST_REPLICA_EVENTS", "300"))
SUBJECTS = int(os.environ.get("LIENTHONG_TEST_REPLICA_SUBJECTS", "15"))
FAILING = 3  # subjects whose events the sink refuses until the replay: dead letters, then held
DSN_ENV = "LIENTHONG_TEST_STATE_DSN"
KEYS = {
    "LIENTHONG_AUDIT_KEY": "replica test subject key, thirty-two characters or more",
    "LIENTHONG_AUDIT_CHAIN_KEY": "replica test chain key, thirty-two characters or more",
}
CITIZEN = "001099012345"
NAMED = {"X-Official-Id": "citizen:self"}
PATIENCE_S = 300.0
wait_for = partial(wait_until, within=PATIENCE_S, every=0.2)


class Deliveries:
    """What the sink took (200 answers only), by event id, from the receiver's requests."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver

    def ids(self) -> list[str]:
        return [request.headers["ce-id"] for request in list(self.receiver.received)]

    def has_all(self, ids: set[str]) -> bool:
        return ids <= set(self.ids())


@pytest.fixture
def three_buses(tmp_path: Path) -> Iterator[tuple[list[BusProcess], Receiver, TcpProxy]]:
    database = urlsplit(fresh_database())
    assert database.hostname is not None and database.port is not None
    with (
        pytest.MonkeyPatch.context() as env,
        TcpProxy(database.hostname, database.port) as proxy,
        Receiver() as sink,
    ):
        env.setenv(DSN_ENV, database._replace(netloc=f"{database.username}@127.0.0.1:{proxy.port}").geturl())
        for name, value in KEYS.items():
            env.setenv(name, value)
        transport = on_kafka(unique("replicas") + ".")
        sections = {"state": {"postgres": {"dsn_env": DSN_ENV, "timeout": "2s"}}}
        readers = [{"systems": [PORTAL], "read_access_log": True}]
        first = BusConfig(tmp_path / "a", transport=transport, sections=sections, extra_policies=readers)
        first.subscribe("portal", sink.url, on_dead_letter="hold_subject")
        configs = [first]
        for name in ("b", "c"):
            configs.append(
                BusConfig(
                    tmp_path / name,
                    transport=transport,
                    sections=sections,
                    extra_policies=readers,
                    keys=first.keys,
                    subscriptions=first.subscriptions,
                )
            )
        for config in configs:
            config.directory.mkdir()
            config.write()
        buses = [BusProcess(config) for config in configs]
        try:
            with ThreadPoolExecutor(len(buses)) as starting:  # at once: the start is most of the time
                list(starting.map(lambda bus: bus.start(timeout=120), buses))
            yield buses, sink, proxy
        finally:
            for bus in buses:
                bus.stop()


def test_three_processes_one_killed_lose_nothing_and_answer_the_same(
    three_buses: tuple[list[BusProcess], Receiver, TcpProxy],
) -> None:
    buses, sink, proxy = three_buses
    a, b, c = buses
    failing = {dossier_code(n) for n in range(FAILING)}
    sink.fail_when(lambda received: received.headers.get("ce-subject") in failing, Fault(status=503))
    per_subject = max(1, EVENTS // SUBJECTS)
    acknowledged: list[dict[str, object]] = []
    clients = {bus.url: bus.client(ONESTOP) for bus in buses}
    alive = [a, b, c]
    deliveries = Deliveries(sink)
    try:
        for sequence in range(1, per_subject + 1):
            if sequence == per_subject // 2 + 1:
                c.kill()  # kill -9 mid-stream, with what it was delivering in hand
                shutil.rmtree(c.config.directory)  # and its disk gone
                shutil.rmtree(a.config.directory)  # another's folder deleted while it runs
                alive = [a, b]
            for subject in range(SUBJECTS):
                bus = alive[(sequence * SUBJECTS + subject) % len(alive)]
                event = status_changed(subject, sequence)
                reply = publish(clients[bus.url], event)
                assert reply.status_code == 202, reply.text
                acknowledged.append(event)
    finally:
        for client in clients.values():
            client.close()

    healthy = {str(e["id"]) for e in acknowledged if e["subject"] not in failing}
    held = [e for e in acknowledged if e["subject"] in failing]
    wait_for(lambda: deliveries.has_all(healthy), f"the {len(healthy)} acknowledged events delivered")

    def letters(bus: BusProcess) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        after = 0
        with bus.client(PORTAL) as client:
            while True:
                reply = client.get(
                    "/v1/subscriptions/portal/dead-letters", params={"after": after, "limit": 1000}
                )
                assert reply.status_code == 200, reply.text
                out.extend(reply.json())
                following = reply.headers.get("X-Next-After")
                if following is None:
                    return out
                after = int(following)

    held_ids = {str(e["id"]) for e in held}
    wait_for(
        lambda: {str(x["event_id"]) for x in letters(a)} >= held_ids, "every failing subject's event a letter"
    )
    assert letters(a) == letters(b)  # the killed process's letters too, whichever made them
    # the sink is back, but a failing subject stays held until its letters are replayed
    sink.clear_faults()
    extra = status_changed(0, per_subject + 1)
    with b.client(ONESTOP) as client:
        assert publish(client, extra).status_code == 202
    acknowledged.append(extra)
    wait_for(lambda: str(extra["id"]) in {str(x["event_id"]) for x in letters(b)}, "the next event held")
    assert not held_ids & set(deliveries.ids())
    with a.client(OPERATOR) as client:
        replayed = client.post(
            "/v1/subscriptions/portal/dead-letters/replay", json={"all": True}, headers=NAMED
        )
    assert replayed.status_code == 200, replayed.text
    every = {str(e["id"]) for e in acknowledged}
    wait_for(lambda: deliveries.has_all(every), "every acknowledged event delivered")
    wait_for(lambda: letters(a) == [], "no letter left")

    # duplicates only as redeliveries: the same id under the same Idempotency-Key
    keys: dict[str, set[str]] = {}
    for request in list(sink.received):
        keys.setdefault(request.headers["ce-id"], set()).add(request.headers.get("idempotency-key", ""))
    assert all(len(found) == 1 for found in keys.values()), "an id delivered under two keys"
    counts = Counter(deliveries.ids())
    duplicates = sum(n - 1 for n in counts.values())
    assert set(counts) == every
    # the order per subject: each event's first delivery after those of its predecessors
    order: dict[str, list[int]] = {}
    seen: set[str] = set()
    for request in list(sink.received):
        event_id = request.headers["ce-id"]
        if event_id in seen:
            continue
        seen.add(event_id)
        code, _, number = event_id.partition("#")
        order.setdefault(code, []).append(int(number))
    assert all(sequences == sorted(sequences) for sequences in order.values()), order
    print(f"\n{len(every)} events over {SUBJECTS} subjects delivered; {duplicates} redelivered")

    # one audit chain for the three: readings through the two left, one report from each
    for bus in (a, b, a):
        with bus.client(PORTAL) as client:
            assert client.get(f"/v1/subjects/{CITIZEN}/access-log", headers=NAMED).status_code == 200
    reports = []
    for bus in (a, b):
        with bus.client(PORTAL) as client:
            reports.append(client.get(f"/v1/subjects/{CITIZEN}/access-log?limit=100", headers=NAMED).json())
    assert reports[1]["entries"][1:] == reports[0]["entries"]
    verified = lienthong("audit", "verify", "--config", str(b.path))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "records, chain intact" in verified.stdout

    # the database cut mid-stream: refused publishes, nothing acknowledged lost, no restart
    after_cut: list[str] = []
    with b.client(ONESTOP) as client:
        before = status_changed(SUBJECTS, 1)
        assert publish(client, before).status_code == 202
        after_cut.append(str(before["id"]))
        proxy.cut()
        try:
            refused = publish(client, status_changed(SUBJECTS, 2))
            assert refused.status_code == 503, refused.text
            assert refused.headers["Retry-After"]
        finally:
            proxy.restore()
        wait_for(lambda: httpx.get(f"{b.url}/readyz", timeout=30).status_code == 200, "ready again")
        again = status_changed(SUBJECTS, 2)
        assert publish(client, again).status_code == 202
        after_cut.append(str(again["id"]))
    wait_for(lambda: deliveries.has_all(set(after_cut)), "the publishes around the outage delivered")
