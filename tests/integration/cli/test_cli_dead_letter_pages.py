"""``lienthong dlq list`` and ``dlq replay`` against a running bus holding more dead letters than
one page or one replay round: nothing is left behind silently. Small pages and rounds
(--page-size, --round-size) stand in for the API's 1000 and 10 000."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.support.bus import ONESTOP, OPERATOR, BusConfig, BusProcess
from tests.support.cli import lienthong
from tests.support.events import dossier_code, status_changed
from tests.support.receiver import Fault, Receiver

BATCH = {"Content-Type": "application/cloudevents-batch+json"}
# seven letters: dossier 0 three times (one subject), dossiers 1 to 4 once each
EVENTS = [status_changed(0, 1), status_changed(0, 2), status_changed(0, 3)] + [
    status_changed(n, 1) for n in range(1, 5)
]


def letters_of(result: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    assert result.returncode == 0, result.stderr
    return [orjson.loads(line) for line in result.stdout.splitlines()]


def waiting(operator: httpx.Client) -> int:
    return int(operator.get("/v1/subscriptions/portal").json()["dead_letters"])


def wait_for_letters(bus: BusProcess, count: int) -> None:
    with bus.client(OPERATOR) as operator:
        deadline = time.monotonic() + 15
        while waiting(operator) < count:
            assert time.monotonic() < deadline, f"{waiting(operator)} of {count} dead letters"
            time.sleep(0.05)


def dead_letter_every_event(bus: BusProcess) -> None:
    """Publishes EVENTS in one batch; the refusing sink makes a dead letter of each."""
    with bus.client(ONESTOP) as publisher:
        assert publisher.post("/v1/events", content=orjson.dumps(EVENTS), headers=BATCH).status_code == 202
    wait_for_letters(bus, len(EVENTS))


async def test_dlq_list_pages_through_every_letter_and_replay_all_takes_rounds(tmp_path: Path) -> None:
    with Receiver() as portal:
        portal.fail_when(lambda _: True, Fault(400))  # a refusal dead-letters at once
        config = BusConfig(tmp_path).subscribe("portal", portal.url)
        with BusProcess(config) as bus:
            await asyncio.to_thread(dead_letter_every_event, bus)
            env = {**os.environ, "LIENTHONG_URL": bus.url, "LIENTHONG_API_KEY": config.keys[OPERATOR]}

            every = letters_of(lienthong("dlq", "list", "portal", "--page-size", "2", env=env))
            ids = [letter["id"] for letter in every]
            assert len(ids) == len(EVENTS) == len(set(ids))
            assert ids == sorted(ids)

            # the API marks a page that more letters follow, and only such a page
            with bus.client(OPERATOR) as operator:
                first = operator.get("/v1/subscriptions/portal/dead-letters", params={"limit": 3})
                assert [d["id"] for d in first.json()] == ids[:3]
                assert first.headers["X-Next-After"] == str(ids[2])
                assert f"after={ids[2]}" in first.headers["Link"]
                assert 'rel="next"' in first.headers["Link"]
                last = operator.get(
                    "/v1/subscriptions/portal/dead-letters", params={"limit": 4, "after": ids[2]}
                )
                assert [d["id"] for d in last.json()] == ids[3:]
                assert "X-Next-After" not in last.headers

            # --limit stops and says where to go on (--after lists from there, as the API did above)
            head = lienthong("dlq", "list", "portal", "--page-size", "2", "--limit", "3", env=env)
            assert [d["id"] for d in letters_of(head)] == ids[:3]
            assert f"--after {ids[2]}" in head.stderr

            subject = dossier_code(0)
            of_subject = letters_of(
                lienthong("dlq", "list", "portal", "--subject", subject, "--page-size", "2", env=env)
            )
            assert [d["id"] for d in of_subject] == [d["id"] for d in every if d["subject"] == subject]
            assert {d["subject"] for d in of_subject} == {subject}

            portal.clear_faults()
            replayed = lienthong("dlq", "replay", "portal", "--all", "--round-size", "3", env=env)
            assert replayed.returncode == 0, replayed.stderr
            assert f"replayed {len(EVENTS)} dead letter(s) in 3 rounds" in replayed.stdout
            await portal.wait_for(len(EVENTS))
            with bus.client(OPERATOR) as operator:
                assert operator.get("/v1/subscriptions/portal/dead-letters").json() == []
    assert sorted(r.headers["ce-id"] for r in portal.received) == sorted(e["id"] for e in EVENTS)
    shown = lienthong("audit", "show", "-c", str(bus.path), env=dict(os.environ))
    assert shown.returncode == 0, shown.stderr
    rounds = [line for line in shown.stdout.splitlines() if "admin.replay" in line]
    assert len(rounds) == 3  # every round audited
    assert all("(all)" in line for line in rounds)


async def test_replay_all_never_replays_more_than_were_waiting(tmp_path: Path) -> None:
    # the sink still refuses: each replayed copy becomes a new dead letter, which a replay
    # asking "until none remain" would take up again, round after round
    with Receiver() as portal:
        portal.fail_when(lambda _: True, Fault(400))
        config = BusConfig(tmp_path).subscribe("portal", portal.url)
        with BusProcess(config) as bus:
            await asyncio.to_thread(dead_letter_every_event, bus)
            env = {**os.environ, "LIENTHONG_URL": bus.url, "LIENTHONG_API_KEY": config.keys[OPERATOR]}
            with bus.client(OPERATOR) as operator:
                originals = [d["id"] for d in operator.get("/v1/subscriptions/portal/dead-letters").json()]

            replayed = lienthong("dlq", "replay", "portal", "--all", "--round-size", "2", env=env)
            assert replayed.returncode == 0, replayed.stderr
            assert f"replayed {len(EVENTS)} dead letter(s) in 4 rounds" in replayed.stdout

            # the copies come back as new letters; only the originals were replayed
            await asyncio.to_thread(wait_for_letters, bus, len(EVENTS))
            with bus.client(OPERATOR) as operator:
                listed = operator.get(
                    "/v1/subscriptions/portal/dead-letters", params={"include_replayed": True}
                ).json()
            assert sorted(d["id"] for d in listed if d["replayed_at_ms"] is not None) == originals
            assert all(d["id"] > max(originals) for d in listed if d["replayed_at_ms"] is None)
