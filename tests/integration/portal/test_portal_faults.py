"""The portal sync under the portal's failures: an outage, expired sessions, "already exists"
replies, garbled replies, and dossier events that must be held instead of forwarded."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from simulators.portal import PortalFaults
from simulators.server import Faults
from tests.support.portal import (
    code,
    life_events,
    portal_rig,
    status_changed,
    submitted,
    synced_statuses,
)
from tests.support.waiting import wait_until

OUTAGE_S = 30.0


def _bucket(metrics: str, le: str) -> float:
    match = re.search(
        rf'^lienthong_portal_sync_lag_seconds_bucket{{le="{re.escape(le)}"}} (\S+)$', metrics, re.M
    )
    assert match is not None
    return float(match.group(1))


def _dedup(statuses: list[int]) -> list[int]:
    return [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]


def test_an_outage_of_the_portal_loses_nothing_and_keeps_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dossiers = 200
    life = (1, 2, 4, 5, 4, 9)  # five status changes each: 1,000 in all
    events = {n: life_events(n, life) for n in range(dossiers)}
    with portal_rig(tmp_path, monkeypatch) as rig:
        rig.publish([events[n][0] for n in range(dossiers)])
        wait_until(lambda: len(rig.portal.store.dossiers) == dossiers, "the dossiers created", within=60)
        wait_until(
            lambda: rig.metric("lienthong_portal_unsynced_dossiers") == 0,
            "in sync before the outage",
            within=30,
        )
        slow_before = rig.metrics()

        port = rig.stop_portal()  # the port is closed: connections are refused
        stopped = time.monotonic()
        for step in range(1, len(life)):
            rig.publish([events[n][step] for n in range(dossiers)])
        wait_until(
            lambda: rig.metric("lienthong_portal_unsynced_dossiers") > 0, "the backlog to show", within=30
        )
        wait_until(
            lambda: rig.metric("lienthong_portal_oldest_unsynced_seconds") >= 10, "the lag to rise", within=30
        )
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
        rig.start_portal(port)

        def arrived() -> bool:
            return all(rig.portal.store.dossiers[code(n)]["TrangThaiHoSo"] == "9" for n in range(dossiers))

        wait_until(arrived, "every status change after the outage", within=90, every=0.5)
        wait_until(
            lambda: rig.metric("lienthong_portal_unsynced_dossiers") == 0, "the backlog cleared", within=30
        )
        assert rig.metric("lienthong_portal_oldest_unsynced_seconds") == 0  # and the lag fell
        after = rig.metrics()
        # events that waited out the outage were acknowledged late: the slow buckets filled
        assert _bucket(after, "+Inf") - _bucket(after, "10.0") > _bucket(slow_before, "+Inf") - _bucket(
            slow_before, "10.0"
        )
        assert rig.dead_letters() == []
        for n in range(dossiers):
            assert synced_statuses(rig.portal.store.log[code(n)]) == list(life)  # in order, none twice


def test_sessions_expiring_mid_stream_are_renewed_and_the_call_repeated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with portal_rig(tmp_path, monkeypatch) as rig:
        rig.publish([submitted(n) for n in range(20)])
        wait_until(lambda: len(rig.portal.store.dossiers) == 20, "the dossiers created", within=30)
        logins = rig.portal.logins
        httpx.post(f"{rig.url}/_sim/expire-sessions", timeout=5).raise_for_status()
        rig.publish([status_changed(n, 1, 2) for n in range(20)])
        wait_until(
            lambda: all(rig.portal.store.dossiers[code(n)]["TrangThaiHoSo"] == "2" for n in range(20)),
            "the changes after the expiry",
            within=30,
        )
        assert rig.portal.logins == logins + 1  # one renewal for every caller that saw it expire
        assert (
            rig.metric("lienthong_portal_calls_total", '{operation="DongBoHoSoMC",outcome="session_expired"}')
            >= 1
        )
        assert rig.dead_letters() == []
        for n in range(20):
            assert synced_statuses(rig.portal.store.log[code(n)]) == [1, 2]


def test_already_exists_on_create_is_answered_by_an_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with portal_rig(tmp_path, monkeypatch, portal_faults=PortalFaults(already_exists_next=5)) as rig:
        rig.publish([submitted(n) for n in range(10)])
        wait_until(
            lambda: rig.metric("lienthong_portal_sync_lag_seconds_count") == 10, "the ten dossiers", within=30
        )
        assert rig.dead_letters() == []
        answered = 0
        for n in range(10):
            log = rig.portal.store.log[code(n)]
            syncs = [
                (e["isUpdating"], e["error_code"], e["written"])
                for e in log
                if e["service"] == "DongBoHoSoMC"
            ]
            if syncs[0] == ("False", "0", False):  # 0 with "đã tồn tại": not written
                assert syncs == [("False", "0", False), ("True", "0", True)]  # no duplicate create
                answered += 1
            else:
                assert syncs == [("False", "0", True)]
        assert answered == 5
        assert len(rig.portal.store.dossiers) == 10


def test_garbled_replies_are_never_taken_for_success(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with portal_rig(tmp_path, monkeypatch, portal_faults=PortalFaults(malformed_next=6)) as rig:
        events = {n: life_events(n, (1, 2, 4, 9)) for n in range(6)}
        for step in range(4):
            rig.publish([events[n][step] for n in events])
        wait_until(
            lambda: all(
                rig.portal.store.dossiers.get(code(n), {}).get("TrangThaiHoSo") == "9" for n in events
            ),
            "the dossiers processed",
            within=30,
        )
        wait_until(lambda: rig.metric("lienthong_portal_unsynced_dossiers") == 0, "in sync", within=30)
        assert (
            rig.metric("lienthong_portal_calls_total", '{operation="TraCuuHoSo",outcome="malformed"}')
            + rig.metric("lienthong_portal_calls_total", '{operation="DongBoHoSoMC",outcome="malformed"}')
            == 6
        )
        assert rig.dead_letters() == []
        for n in events:
            # a garbled reply to an applied update makes the bus send it again: never a status out of order
            assert _dedup(synced_statuses(rig.portal.store.log[code(n)])) == [1, 2, 4, 9]


def test_backward_and_impossible_moves_are_held_and_reported_under_strict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with portal_rig(tmp_path, monkeypatch, options={"status_policy": "strict"}) as rig:
        backward, terminal, unknown = 0, 1, 2
        rig.publish([*life_events(backward, (1, 2, 4, 9)), *life_events(terminal, (1, 3))])
        wait_until(
            lambda: rig.metric("lienthong_portal_sync_lag_seconds_count") == 6, "the lives so far", within=30
        )
        rig.publish(
            [
                status_changed(backward, 10, 4),  # 9 -> 4: backwards
                status_changed(backward, 11, 10),  # waits behind the held event
                status_changed(terminal, 10, 4),  # out of "refused"
                status_changed(unknown, 1, 4),  # a dossier nobody knows
            ]
        )
        wait_until(lambda: len(rig.dead_letters()) == 4, "the held events dead-lettered", within=30)
        letters = {letter["event_id"]: letter for letter in rig.dead_letters()}
        assert "held (backward)" in letters[f"{code(backward)}#10"]["last_error"]
        assert letters[f"{code(backward)}#11"]["reason"] == "held_subject"
        assert "held (from_terminal)" in letters[f"{code(terminal)}#10"]["last_error"]
        assert "held (unknown_dossier)" in letters[f"{code(unknown)}#1"]["last_error"]
        assert rig.portal.store.dossiers[code(backward)]["TrangThaiHoSo"] == "9"  # never forwarded
        assert rig.portal.store.dossiers[code(terminal)]["TrangThaiHoSo"] == "3"
        assert code(unknown) not in rig.portal.store.dossiers
        for reason in ("backward", "from_terminal", "unknown_dossier"):
            assert rig.metric("lienthong_portal_held_transitions_total", f'{{reason="{reason}"}}') == 1


def test_a_dossier_sent_again_in_the_same_state_makes_no_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with portal_rig(tmp_path, monkeypatch) as rig:
        first = life_events(0, (1, 2))
        rig.publish(first)
        wait_until(
            lambda: rig.metric("lienthong_portal_sync_lag_seconds_count") == 2, "the dossier", within=30
        )
        calls = len(rig.portal.store.log[code(0)])
        again = status_changed(0, 2, 2)  # a new event id, the same state
        again["data"]["changedAt"] = first[1]["data"]["changedAt"]
        rig.publish([again, status_changed(0, 3, 4)])
        wait_until(
            lambda: rig.portal.store.dossiers[code(0)]["TrangThaiHoSo"] == "4", "the next change", within=30
        )
        assert synced_statuses(rig.portal.store.log[code(0)]) == [1, 2, 4]
        assert len(rig.portal.store.log[code(0)]) == calls + 1


def test_portal_errors_are_retried_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with portal_rig(tmp_path, monkeypatch, faults=Faults(error_rate=0.3, seed=7)) as rig:
        events = {n: life_events(n, (1, 2, 4, 6, 4, 9, 10)) for n in range(20)}
        for step in range(7):
            rig.publish([events[n][step] for n in events])
        wait_until(
            lambda: all(
                rig.portal.store.dossiers.get(code(n), {}).get("TrangThaiHoSo") == "10" for n in events
            ),
            "every dossier returned",
            within=60,
        )
        assert (
            rig.metric("lienthong_portal_calls_total", '{operation="DongBoHoSoMC",outcome="unavailable"}') > 0
        )
        assert rig.dead_letters() == []
        for n in events:
            assert synced_statuses(rig.portal.store.log[code(n)]) == [1, 2, 4, 6, 4, 9, 10]
