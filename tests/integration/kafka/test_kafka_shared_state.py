"""Two ``lienthong serve`` processes of one bus on Kafka, their shared state in PostgreSQL
(``state.postgres``): the same publish sent to both is appended once, the audit records both write
are one chain that ``lienthong audit verify`` passes, a subject's access report is the same from
each, and a dead letter is listed and replayed through either. With the database out of reach, a publish is answered 503 with Retry-After and /readyz says
so; when it is back, the bus goes on without a restart."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from urllib.parse import urlsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.http.console.routes import COOKIE
from tests.support.bus import ONESTOP, OPERATOR, PORTAL, BusConfig, BusProcess
from tests.support.cli import lienthong
from tests.support.events import delivered, publish, status_changed
from tests.support.kafka import on_kafka, unique
from tests.support.postgres import fresh_database
from tests.support.receiver import Fault, Receiver
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

DSN_ENV = "LIENTHONG_TEST_STATE_DSN"
KEYS = {
    "LIENTHONG_AUDIT_KEY": "shared-state test subject key, thirty-two characters or more",
    "LIENTHONG_AUDIT_CHAIN_KEY": "shared-state test chain key, thirty-two characters or more",
}
CITIZEN = "001099012345"
NAMED = {"X-Official-Id": "citizen:self"}
PATIENCE_S = 60.0
wait_for = partial(wait_until, within=PATIENCE_S)


@pytest.fixture(scope="module")
def two_buses(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[BusProcess, BusProcess, Receiver, TcpProxy]]:
    """One pair of processes for the module (starting them is most of the time the tests take);
    each test uses events, subjects and letters of its own."""
    tmp_path = tmp_path_factory.mktemp("shared-state")
    database = urlsplit(fresh_database())
    assert database.hostname is not None and database.port is not None
    with (
        pytest.MonkeyPatch.context() as env,
        TcpProxy(database.hostname, database.port) as proxy,
        Receiver() as portal,
    ):
        env.setenv(DSN_ENV, database._replace(netloc=f"{database.username}@127.0.0.1:{proxy.port}").geturl())
        for name, value in KEYS.items():
            env.setenv(name, value)
        # one console signing secret, as every instance behind one address has
        env.setenv("LIENTHONG_CONSOLE_SECRET", "shared-state test console secret, 32 characters+")
        transport = on_kafka(unique("shared") + ".")
        sections = {
            "state": {"postgres": {"dsn_env": DSN_ENV, "timeout": "2s"}},
            "audit": {"path": "audit.db"},
        }
        readers = [{"systems": [PORTAL], "read_access_log": True}]
        first = BusConfig(tmp_path / "a", transport=transport, sections=sections, extra_policies=readers)
        first.subscribe("portal", portal.url)
        (tmp_path / "a").mkdir()
        first.write()
        second = BusConfig(
            tmp_path / "b",
            transport=transport,
            sections=sections,
            extra_policies=readers,
            keys=first.keys,  # the same systems, the same API keys
            subscriptions=first.subscriptions,
        )
        (tmp_path / "b").mkdir()
        with BusProcess(first) as a, BusProcess(second) as b:
            yield a, b, portal, proxy


def test_the_same_publish_to_two_processes_is_appended_once(
    two_buses: tuple[BusProcess, BusProcess, Receiver, TcpProxy],
) -> None:
    a, b, portal, _ = two_buses
    event = status_changed(1, 1)
    with a.client(ONESTOP) as to_a, b.client(ONESTOP) as to_b:
        first = publish(to_a, event)
        second = publish(to_b, event)
        third = publish(to_a, event)
    assert first.status_code == 202, first.text
    assert first.json()["events"] == [{"id": event["id"], "duplicate": False}]
    assert second.status_code == 202, second.text
    assert second.json()["events"] == [{"id": event["id"], "duplicate": True}]
    assert third.json()["events"] == [{"id": event["id"], "duplicate": True}]
    # a marker published after it: once it is delivered, the event would have been too
    marker = status_changed(1, 2)
    with b.client(ONESTOP) as to_b:
        assert publish(to_b, marker).status_code == 202
    wait_for(lambda: any(e["id"] == marker["id"] for e in delivered(portal.received)), "the marker delivered")
    ids = [e["id"] for e in delivered(portal.received)]
    assert ids.count(event["id"]) == 1


def test_audit_records_of_both_processes_are_one_chain_and_one_report(
    two_buses: tuple[BusProcess, BusProcess, Receiver, TcpProxy],
) -> None:
    a, b, _, _ = two_buses
    for bus in (a, b, a, b):
        with bus.client(PORTAL) as client:
            reply = client.get(f"/v1/subjects/{CITIZEN}/access-log", headers=NAMED)
        assert reply.status_code == 200, reply.text
    reports = []
    for bus in (a, b):
        with bus.client(PORTAL) as client:
            reports.append(client.get(f"/v1/subjects/{CITIZEN}/access-log?limit=100", headers=NAMED).json())
    # each report is also a reading, recorded: the second report holds the first's reading
    first, second = reports
    assert len(first["entries"]) == 5 and len(second["entries"]) == 6
    assert second["entries"][1:] == first["entries"]
    checked = lienthong("audit", "verify", "--config", str(a.path))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "records, chain intact" in checked.stdout


def test_the_database_out_of_reach_refuses_publishes_with_503_and_readyz_says_so(
    two_buses: tuple[BusProcess, BusProcess, Receiver, TcpProxy],
) -> None:
    a, _, portal, proxy = two_buses
    proxy.cut()
    try:
        with a.client(ONESTOP) as client:
            refused = publish(client, status_changed(2, 1))
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"]
        assert refused.json()["code"] == "unavailable"
        ready = httpx.get(f"{a.url}/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["detail"] == "not ready: audit, state"  # the audit log is there too
        # the dead letters live in the database too: listing, replaying and purging them wait
        with a.client(PORTAL) as client:
            listing = client.get("/v1/subscriptions/portal/dead-letters")
        with a.client(OPERATOR) as client:
            replay = client.post(
                "/v1/subscriptions/portal/dead-letters/replay", json={"all": True}, headers=NAMED
            )
            purge = client.delete(
                "/v1/subscriptions/portal/dead-letters", params={"all": "true"}, headers=NAMED
            )
        for reply in (listing, replay, purge):
            assert reply.status_code == 503, reply.text
            assert reply.headers["Retry-After"]
            assert reply.json()["code"] == "unavailable"
    finally:
        proxy.restore()
    wait_for(lambda: httpx.get(f"{a.url}/readyz", timeout=30).status_code == 200, "ready again")
    event = status_changed(2, 1)
    with a.client(ONESTOP) as client:
        accepted = publish(client, event)
    assert accepted.status_code == 202, accepted.text
    wait_for(
        lambda: any(e["id"] == event["id"] for e in delivered(portal.received)), "delivered after the outage"
    )


def test_dead_letters_are_listed_and_replayed_through_either_process(
    two_buses: tuple[BusProcess, BusProcess, Receiver, TcpProxy],
) -> None:
    a, b, portal, _ = two_buses
    event = status_changed(3, 1)
    # binary mode: the id travels in ce-id
    portal.fail_when(lambda received: received.headers.get("ce-id") == event["id"], Fault(status=503))
    with a.client(ONESTOP) as client:
        assert publish(client, event).status_code == 202

    def letters(bus: BusProcess) -> list[dict[str, object]]:
        with bus.client(PORTAL) as client:
            reply = client.get("/v1/subscriptions/portal/dead-letters")
        assert reply.status_code == 200, reply.text
        return list(reply.json())

    wait_for(lambda: letters(a), "the dead letter")
    from_a, from_b = letters(a), letters(b)
    assert [letter["event_id"] for letter in from_a] == [event["id"]]
    assert from_a == from_b  # whichever process made it
    portal.clear_faults()
    with b.client(OPERATOR) as client:
        replayed = client.post(
            "/v1/subscriptions/portal/dead-letters/replay", json={"all": True}, headers=NAMED
        )
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["replayed"] == 1
    wait_for(lambda: any(e["id"] == event["id"] for e in delivered(portal.received)), "the replayed event")
    assert letters(a) == letters(b) == []


def test_a_console_sign_out_through_one_process_is_refused_by_the_other(
    two_buses: tuple[BusProcess, BusProcess, Receiver, TcpProxy],
) -> None:
    a, b, _, _ = two_buses
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    with httpx.Client(base_url=a.url, timeout=30) as on_a, httpx.Client(base_url=b.url, timeout=30) as on_b:
        signed_in = on_a.post("/console/login", content=f"api_key={a.config.keys[OPERATOR]}", headers=form)
        assert signed_in.status_code == 303, signed_in.text
        cookie = on_a.cookies.get(COOKIE)
        assert cookie
        on_b.cookies.set(COOKIE, cookie, path="/console")
        page = on_b.get("/console")  # the same session through the other process
        assert page.status_code == 200, page.text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', on_a.get("/console").text)
        assert csrf is not None
        out = on_a.post("/console/logout", content=f"csrf={csrf.group(1)}", headers=form)
        assert out.status_code == 303
        assert on_b.get("/console").status_code == 303  # back to the login page
        assert on_b.get("/console/live").status_code == 401


def test_no_process_keeps_a_file_of_state_in_its_data_folder(
    two_buses: tuple[BusProcess, BusProcess, Receiver, TcpProxy],
) -> None:
    for bus in two_buses[:2]:
        assert isinstance(bus, BusProcess)
        folder = bus.path.parent
        kept = sorted(str(path.relative_to(folder)) for path in folder.rglob("*.db*"))
        assert kept == [], f"{folder}: {kept}"


def dead_letter_gauges(buses: tuple[BusProcess, ...]) -> list[float]:
    """``lienthong_dead_letters{subscription="portal"}`` as each process exports it."""
    values = []
    for bus in buses:
        text = httpx.get(f"{bus.url}/metrics", timeout=30).text
        values.append(
            sum(
                sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
                if sample.name == "lienthong_dead_letters" and sample.labels.get("subscription") == "portal"
            )
        )
    return values


def test_one_process_exports_the_dead_letter_count_so_a_sum_is_the_deployment_s(
    two_buses: tuple[BusProcess, BusProcess, Receiver, TcpProxy],
) -> None:
    a, b, portal, _ = two_buses
    events = [status_changed(4, 1), status_changed(5, 1)]
    failing = {str(event["id"]) for event in events}
    portal.fail_when(lambda received: received.headers.get("ce-id") in failing, Fault(status=503))
    with a.client(ONESTOP) as to_a, b.client(ONESTOP) as to_b:
        assert publish(to_a, events[0]).status_code == 202
        assert publish(to_b, events[1]).status_code == 202

    def listed() -> int:
        with a.client(PORTAL) as client:
            return len(client.get("/v1/subscriptions/portal/dead-letters").json())

    wait_for(lambda: listed() == 2, "both dead letters")
    # each process reads the shared count; one exports it, the other 0
    wait_for(lambda: sorted(dead_letter_gauges((a, b))) == [0.0, 2.0], "one process exporting 2")
    portal.clear_faults()
    with a.client(OPERATOR) as client:
        replayed = client.post(
            "/v1/subscriptions/portal/dead-letters/replay", json={"all": True}, headers=NAMED
        )
    assert replayed.status_code == 200, replayed.text
    # a replay through either process: the exporter reads the count again
    wait_for(lambda: dead_letter_gauges((a, b)) == [0.0, 0.0], "the count back to 0")
