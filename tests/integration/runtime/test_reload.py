"""Reloading the configuration of a running bus (``POST /v1/admin/reload`` and SIGHUP): a real
bus under uvicorn in a child process, real webhook receivers, the configuration file rewritten
between the steps; and the audit records of reloads, replays and purges read back with the CLI."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from adapters.http.console.routes import COOKIE
from router.directory import new_api_key
from tests.support.bus import ONESTOP, OPERATOR, PORTAL, BusConfig, BusProcess
from tests.support.cli import lienthong
from tests.support.events import delivered, status_changed
from tests.support.kafka import on_kafka, unique
from tests.support.paths import ROOT
from tests.support.receiver import Fault, Receiver


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    with Receiver() as first, Receiver() as second:
        yield first, second


def publish(bus: BusProcess, *events: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key or bus.config.keys[ONESTOP]}"}
    body = list(events) if len(events) > 1 else events[0]
    content_type = "application/cloudevents-batch+json" if len(events) > 1 else "application/cloudevents+json"
    return httpx.post(
        f"{bus.url}/v1/events",
        content=httpx.Request("POST", "/", json=body).content,
        headers={**headers, "Content-Type": content_type},
        timeout=30,
    )


def reload(bus: BusProcess, system: str = OPERATOR) -> httpx.Response:
    with bus.client(system) as client:
        return client.post("/v1/admin/reload")


def ids(receiver: Receiver) -> list[str]:
    return [event["id"] for event in delivered(receiver.received)]


def names(bus: BusProcess) -> set[str]:
    with bus.client(OPERATOR) as client:
        return {s["name"] for s in client.get("/v1/subscriptions").json()}


def test_subscriptions_added_and_removed_by_reload(
    tmp_path: Path, receivers: tuple[Receiver, Receiver]
) -> None:
    first, second = receivers
    config = BusConfig(tmp_path).subscribe("first", first.url)
    with BusProcess(config) as bus:
        assert publish(bus, status_changed(0, 1)).status_code == 202
        asyncio.run(first.wait_for(1))

        config.subscribe("second", second.url)
        config.write()
        answer = reload(bus)
        assert answer.status_code == 200, answer.text
        assert answer.json()["subscriptions"] == {"added": ["second"], "removed": [], "changed": []}
        assert answer.json()["generation"] == 2
        assert publish(bus, status_changed(0, 2)).status_code == 202
        asyncio.run(second.wait_for(1))
        asyncio.run(first.wait_for(2))
        assert ids(second) == [status_changed(0, 2)["id"]]  # routed after the swap only

        config.subscriptions = [s for s in config.subscriptions if s["name"] != "first"]
        config.write()
        answer = reload(bus)
        assert answer.status_code == 200, answer.text
        assert answer.json()["subscriptions"]["removed"] == ["first"]
        assert names(bus) == {"second"}
        assert publish(bus, status_changed(0, 3)).status_code == 202
        asyncio.run(second.wait_for(2))
        assert ids(second) == [status_changed(0, 2)["id"], status_changed(0, 3)["id"]]
        assert ids(first) == [status_changed(0, 1)["id"], status_changed(0, 2)["id"]]

        # nothing changed: 200, and it says so
        unchanged = reload(bus).json()
        assert unchanged["changed"] is False and unchanged["generation"] == 4

        # reloads asked at the same time run one after the other
        with ThreadPoolExecutor(3) as pool:
            answers = list(pool.map(lambda _: reload(bus), range(3)))
        assert sorted(a.json()["generation"] for a in answers) == [5, 6, 7]


def test_a_changed_subscription_restarts_on_its_new_sink(
    tmp_path: Path, receivers: tuple[Receiver, Receiver]
) -> None:
    first, second = receivers
    config = BusConfig(tmp_path).subscribe("moving", first.url)
    with BusProcess(config) as bus:
        assert publish(bus, status_changed(0, 1)).status_code == 202
        asyncio.run(first.wait_for(1))
        config.subscriptions[0]["sink"]["webhook"]["url"] = second.url
        config.write()
        answer = reload(bus)
        assert answer.status_code == 200, answer.text
        assert answer.json()["subscriptions"]["changed"] == ["moving"]
        assert publish(bus, status_changed(0, 2)).status_code == 202
        asyncio.run(second.wait_for(1))
        assert ids(first) == [status_changed(0, 1)["id"]]  # committed before the old loop stopped
        assert ids(second) == [status_changed(0, 2)["id"]]


def test_key_rotation_by_reload(tmp_path: Path, receivers: tuple[Receiver, Receiver]) -> None:
    config = BusConfig(tmp_path).subscribe("first", receivers[0].url)
    with BusProcess(config) as bus:
        old = config.keys[ONESTOP]
        new, _ = new_api_key(ONESTOP)
        config.keys[ONESTOP] = new
        config.write()
        assert reload(bus).json()["systems"]["changed"] == [ONESTOP]
        refused = publish(bus, status_changed(0, 1), key=old)
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthenticated"
        assert publish(bus, status_changed(0, 1), key=new).status_code == 202


def test_the_console_follows_a_reload(tmp_path: Path) -> None:
    """The console reads the directory and policy in force: an operator whose key is rotated
    away, or whose admin grant is withdrawn, is out at once."""
    config = BusConfig(tmp_path)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    with BusProcess(config) as bus, httpx.Client(base_url=bus.url, timeout=30) as console:
        login = console.post("/console/login", content=f"api_key={config.keys[OPERATOR]}", headers=form)
        assert login.status_code == 303
        assert console.get("/console").status_code == 200
        old_key = config.keys[OPERATOR]
        config.keys[OPERATOR], _ = new_api_key(OPERATOR)
        config.write()
        with httpx.Client(base_url=bus.url, timeout=30) as api:
            # the old key asks: it is still the one in force until the swap
            answer = api.post("/v1/admin/reload", headers={"Authorization": f"Bearer {old_key}"})
        assert answer.status_code == 200, answer.text
        out = console.get("/console")
        assert (out.status_code, out.headers["location"]) == (303, "/console/login")
        again = console.post("/console/login", content=f"api_key={config.keys[OPERATOR]}", headers=form)
        assert again.status_code == 303 and console.get("/console").status_code == 200
        _rewrite(bus.path, lambda d: d["policies"].remove({"systems": [OPERATOR], "admin": True}))
        assert reload(bus).status_code == 200
        assert console.get("/console").status_code == 403

        # signing out while the grant is gone still ends the session: a copy of its cookie does
        # not come back to life with the grant
        copied = console.cookies.get(COOKIE)
        assert copied
        out = console.post("/console/logout", content="", headers=form)
        assert (out.status_code, out.headers["location"]) == (303, "/console/login")
        _rewrite(bus.path, lambda d: d["policies"].append({"systems": [OPERATOR], "admin": True}))
        assert bus.process is not None
        bus.process.send_signal(signal.SIGHUP)  # the operator cannot reload by API without its grant
        _wait(lambda: reload(bus).status_code == 200)  # the grant is back
        console.cookies.set(COOKIE, copied, path="/console")
        assert console.get("/console").status_code == 303


def _rewrite(path: Path, change: Any) -> None:
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))


@pytest.mark.parametrize(
    ("change", "pointer", "says"),
    [
        (lambda d: d["subscriptions"][0].update(batch_size="many"), "/subscriptions/0", "batch_size"),
        (
            lambda d: d["subscriptions"][0].update(system="000.00.00.H99/nobody"),
            "/subscriptions/0/system",
            "",
        ),
        (
            lambda d: d["transport"].update(path="elsewhere.db"),
            "/transport/path",
            "restart to change transport.path",
        ),
        (lambda d: d["http"].update(port=1), "/http/port", "restart to change http.port"),
    ],
    ids=["schema", "unknown-system", "transport-path", "http-port"],
)
def test_a_bad_configuration_is_refused_and_the_old_one_serves(
    tmp_path: Path, receivers: tuple[Receiver, Receiver], change: Any, pointer: str, says: str
) -> None:
    first, _ = receivers
    config = BusConfig(tmp_path).subscribe("first", first.url)
    with BusProcess(config) as bus:
        _rewrite(bus.path, change)
        answer = reload(bus)
        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert answer.headers["content-type"] == "application/problem+json"
        assert problem["code"] == "config_invalid"
        assert any(e.get("pointer", "").startswith(pointer) for e in problem["errors"]), problem
        found = next(e for e in problem["errors"] if e.get("pointer", "").startswith(pointer))
        assert found["file"] == str(bus.path) and found["line"] > 1 and found["fix"]
        assert says in found["text"]
        # the running configuration still serves
        assert publish(bus, status_changed(0, 1)).status_code == 202
        asyncio.run(first.wait_for(1))
        assert names(bus) == {"first"}


def test_only_an_operator_may_reload(tmp_path: Path) -> None:
    with BusProcess(BusConfig(tmp_path)) as bus:
        refused = reload(bus, PORTAL)
        assert refused.status_code == 403
        assert refused.json()["code"] == "forbidden"


def _wait(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition did not come true")
        time.sleep(0.05)


def test_sighup_reloads_a_good_file_and_refuses_a_bad_one(
    tmp_path: Path, receivers: tuple[Receiver, Receiver]
) -> None:
    first, second = receivers
    config = BusConfig(tmp_path).subscribe("first", first.url)
    with BusProcess(config) as bus:
        assert bus.process is not None
        config.subscribe("second", second.url)
        config.write()
        bus.process.send_signal(signal.SIGHUP)
        _wait(lambda: names(bus) == {"first", "second"})
        assert "configuration reloaded (SIGHUP" in bus.log.read_text()

        _rewrite(bus.path, lambda d: d["transport"].update(path="elsewhere.db"))
        bus.process.send_signal(signal.SIGHUP)
        _wait(lambda: "configuration reload refused (SIGHUP)" in bus.log.read_text())
        assert "restart to change transport.path" in bus.log.read_text()
        assert bus.process.poll() is None
        assert publish(bus, status_changed(0, 1)).status_code == 202
        asyncio.run(second.wait_for(1))
        asyncio.run(first.wait_for(1))


def test_events_published_during_reloads_are_all_delivered(
    tmp_path: Path, receivers: tuple[Receiver, Receiver]
) -> None:
    """A publisher keeps going while the configuration is reloaded again and again (a
    subscription added, removed, added...): the subscription that exists throughout gets every
    acknowledged event, none twice beyond a redelivery of the same id."""
    first, second = receivers
    config = BusConfig(tmp_path).subscribe("steady", first.url)
    acknowledged: list[str] = []
    done = threading.Event()

    def keep_publishing(bus: BusProcess) -> None:
        sequence = 0
        while not done.is_set():
            sequence += 1
            event = status_changed(sequence % 7, sequence)
            if publish(bus, event).status_code == 202:
                acknowledged.append(event["id"])

    with BusProcess(config) as bus:
        publisher = threading.Thread(target=keep_publishing, args=(bus,))
        publisher.start()
        try:
            for round_no in range(6):
                if round_no % 2 == 0:
                    config.subscribe("coming-and-going", second.url)
                else:
                    config.subscriptions = [s for s in config.subscriptions if s["name"] == "steady"]
                config.write()
                assert reload(bus).status_code == 200
                enough = 5 * (round_no + 1)
                _wait(lambda: len(acknowledged) > enough)  # noqa: B023 (called at once)
        finally:
            done.set()
            publisher.join(30)
        _wait(lambda: set(acknowledged) <= set(ids(first)), timeout=30)
        got = ids(first)
        assert set(got) == set(acknowledged)
        assert len(got) == len(set(got))  # its loop was never touched: nothing delivered again
        assert set(ids(second)) <= set(acknowledged)
        assert len(acknowledged) > 30


def test_replay_purge_and_reload_are_audited(tmp_path: Path, receivers: tuple[Receiver, Receiver]) -> None:
    first, _ = receivers
    first.fail_when(lambda r: True, Fault(status=422))  # refused: dead-lettered at once
    config = BusConfig(tmp_path).subscribe("first", first.url)
    with BusProcess(config) as bus:
        assert (
            publish(bus, status_changed(0, 1), status_changed(1, 1), status_changed(2, 1)).status_code == 202
        )
        with bus.client(OPERATOR) as operator:
            _wait(lambda: len(operator.get("/v1/subscriptions/first/dead-letters").json()) == 3)
            letters = [d["id"] for d in operator.get("/v1/subscriptions/first/dead-letters").json()]
            first.clear_faults()
            replayed = operator.post(
                "/v1/subscriptions/first/dead-letters/replay",
                json={"ids": [letters[0]]},
                headers={"X-Official-Id": "nguyen.van.a"},
            )
            assert replayed.json() == {"replayed": 1, "ids": [letters[0]]}
            with bus.client(PORTAL) as subscriber:  # the subscriber may replay, not purge
                assert (
                    subscriber.delete(
                        "/v1/subscriptions/first/dead-letters", params={"id": letters[1]}
                    ).status_code
                    == 403
                )
            purged = operator.delete("/v1/subscriptions/first/dead-letters", params={"id": letters[1]})
            assert purged.json() == {"purged": 1, "ids": [letters[1]]}
            listed = operator.get("/v1/subscriptions/first/dead-letters", params={"include_replayed": True})
            assert [d["id"] for d in listed.json()] == [letters[0], letters[2]]
            assert reload(bus).status_code == 200
        env = {**os.environ, "LIENTHONG_URL": bus.url, "LIENTHONG_API_KEY": config.keys[OPERATOR]}
        purge = subprocess.run(
            [sys.executable, "-m", "lienthong", "dlq", "purge", "first", "--all"],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
            env=env,
        )
        assert purge.returncode == 0, purge.stderr
        assert "purged 2 dead letter(s)" in purge.stdout
    shown = lienthong("audit", "show", "-c", str(bus.path))
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert any(
        "admin.replay" in line and "nguyen.van.a" in line and f"ids {letters[0]}" in line for line in lines
    )
    assert sum("admin.purge" in line for line in lines) == 2
    assert any("admin.reload" in line and "accepted" in line and "sha256" in line for line in lines)
    verified = lienthong("audit", "verify", "-c", str(bus.path))
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_an_admin_action_that_cannot_be_audited_is_not_done(
    tmp_path: Path, receivers: tuple[Receiver, Receiver]
) -> None:
    """The audit store's writes fail for real (the bus process's file-size limit lowered to one
    byte, as a full disk would: root cannot bypass it): replay, purge and reload answer 503
    audit_unavailable and change nothing; once writes succeed again, they are done."""
    first, second = receivers
    first.fail_when(lambda r: True, Fault(status=422))
    config = BusConfig(tmp_path).subscribe("first", first.url)
    with BusProcess(config) as bus, bus.client(OPERATOR) as operator:
        assert bus.process is not None
        assert publish(bus, status_changed(0, 1)).status_code == 202
        _wait(lambda: len(operator.get("/v1/subscriptions/first/dead-letters").json()) == 1)
        config.subscribe("second", second.url)
        config.write()
        _, hard = resource.prlimit(bus.process.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(bus.process.pid, resource.RLIMIT_FSIZE, (1, hard))
        try:
            refused = [
                operator.post("/v1/subscriptions/first/dead-letters/replay", json={"all": True}),
                operator.delete("/v1/subscriptions/first/dead-letters", params={"all": True}),
                operator.post("/v1/admin/reload"),
            ]
        finally:
            resource.prlimit(bus.process.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, hard))
        assert [r.status_code for r in refused] == [503, 503, 503], [r.text for r in refused]
        assert {r.json()["code"] for r in refused} == {"audit_unavailable"}
        assert len(operator.get("/v1/subscriptions/first/dead-letters").json()) == 1
        assert names(bus) == {"first"}
        assert operator.post("/v1/admin/reload").status_code == 200
        assert names(bus) == {"first", "second"}


def test_reload_on_kafka_moves_a_subscription_and_adds_one(
    tmp_path: Path, receivers: tuple[Receiver, Receiver]
) -> None:
    """On Kafka a changed subscription's old consumer leaves its group before the new one joins,
    from the committed offsets: nothing is lost or delivered twice across the move."""
    first, second = receivers
    config = BusConfig(tmp_path, transport=on_kafka(unique("reload") + ".")).subscribe("moving", first.url)
    with BusProcess(config) as bus:
        assert publish(bus, status_changed(0, 1)).status_code == 202
        asyncio.run(first.wait_for(1, timeout=30))
        config.subscriptions[0]["sink"]["webhook"]["url"] = second.url
        config.subscribe("added", first.url)
        config.write()
        answer = reload(bus)
        assert answer.status_code == 200, answer.text
        assert answer.json()["subscriptions"] == {"added": ["added"], "removed": [], "changed": ["moving"]}
        assert publish(bus, status_changed(0, 2), status_changed(1, 2)).status_code == 202
        asyncio.run(second.wait_for(2, timeout=30))
        asyncio.run(first.wait_for(3, timeout=30))
        assert sorted(ids(second)) == sorted([status_changed(0, 2)["id"], status_changed(1, 2)["id"]])
        assert sorted(ids(first)) == sorted([status_changed(n, s)["id"] for n, s in ((0, 1), (0, 2), (1, 2))])
