"""Reconciliation finds drift planted directly in the portal simulator and repairs it: from the
command line (``lienthong portal reconcile``) and periodically from ``serve``; and the
operators' figures at ``GET /v1/stats``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from tests.support.bus import ONESTOP, OPERATOR, OUTSIDER
from tests.support.portal import AGENCY, code, life_events, portal_rig, status_changed, submitted
from tests.support.waiting import wait_until


def _plant_drift(url: str) -> None:
    httpx.put(f"{url}/_sim/dossiers/{code(0)}", json={"TrangThaiHoSo": "7"}, timeout=5).raise_for_status()
    httpx.put(
        f"{url}/_sim/dossiers/{code(1)}", json={"ChuHoSo": "Someone Else"}, timeout=5
    ).raise_for_status()
    httpx.delete(f"{url}/_sim/dossiers/{code(2)}", timeout=5).raise_for_status()


def test_reconcile_repairs_drift_planted_in_the_portal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with portal_rig(tmp_path, monkeypatch) as rig:
        rig.publish([event for n in range(5) for event in life_events(n, (1, 2, 4, 9))])
        wait_until(
            lambda: rig.metric("lienthong_portal_sync_lag_seconds_count") == 20, "the dossiers", within=30
        )
        expected = {code(n): dict(rig.portal.store.dossiers[code(n)]) for n in range(5)}
        _plant_drift(rig.url)

        command = [sys.executable, "-m", "lienthong", "portal", "reconcile", "--config", str(rig.bus.path)]
        done = subprocess.run(
            [*command, "--json"], check=False, capture_output=True, text=True, env=os.environ, timeout=60
        )
        assert done.returncode == 0, done.stderr
        report = orjson.loads(done.stdout)
        assert (report["checked"], report["in_sync"], report["drifted"], report["repaired"]) == (5, 2, 3, 3)
        kinds = {d["dossier"]: (d["kind"], d["fields"]) for d in report["dossiers"]}
        assert kinds[code(0)] == ("different", ["TrangThaiHoSo"])
        assert kinds[code(1)] == ("different", ["ChuHoSo"])
        assert kinds[code(2)][0] == "missing"
        for dossier, record in expected.items():
            assert rig.portal.store.dossiers[dossier] == record

        again = subprocess.run(
            command, check=False, capture_output=True, text=True, env=os.environ, timeout=60
        )
        assert again.returncode == 0, again.stderr
        assert "5 in sync, 0 drifted" in again.stdout

        # the bus goes on from the repaired state
        rig.publish([status_changed(0, 9, 10)])
        wait_until(
            lambda: rig.portal.store.dossiers[code(0)]["TrangThaiHoSo"] == "10", "the next change", within=30
        )


def test_serve_reconciles_periodically_when_configured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with portal_rig(tmp_path, monkeypatch, options={"reconcile_every": "300ms"}) as rig:
        rig.publish([event for n in range(3) for event in life_events(n, (1, 2))])
        wait_until(
            lambda: rig.metric("lienthong_portal_sync_lag_seconds_count") == 6, "the dossiers", within=30
        )
        expected = {code(n): dict(rig.portal.store.dossiers[code(n)]) for n in range(3)}
        _plant_drift(rig.url)
        wait_until(
            lambda: all(rig.portal.store.dossiers.get(d) == r for d, r in expected.items()),
            "the drift repaired",
            within=30,
        )
        wait_until(
            lambda: rig.metric("lienthong_portal_reconciled_dossiers_total", '{result="repaired"}') == 3,
            "the repairs counted",
            within=30,
        )


def test_stats_show_each_agency_its_scorecard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with portal_rig(tmp_path, monkeypatch) as rig:
        events = [
            *life_events(0, (1, 2, 4, 9, 10)),  # online, returned online, on time
            *[submitted(1, channel="counter"), *life_events(1, (1, 2, 4, 9, 10))[1:]],
            *[submitted(2, due_in_s=-3600), *life_events(2, (1, 2, 4, 9))[1:]],  # late
            *life_events(3, (1, 3)),
        ]
        rig.publish(events)
        wait_until(
            lambda: rig.metric("lienthong_portal_sync_lag_seconds_count") == len(events),
            "the dossiers",
            within=30,
        )

        assert httpx.get(f"{rig.bus.url}/v1/stats", timeout=5).status_code == 401
        with rig.bus.client(OPERATOR) as client:
            reply = client.get("/v1/stats")
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["scope"] == "all"
        (portal,) = body["portal"]
        assert portal["unsynced_dossiers"] == 0
        (row,) = portal["agencies"]
        assert row["agency"] == AGENCY
        assert (row["dossiers"], row["submitted_online"], row["online_submission_rate"]) == (4, 3, 0.75)
        assert (row["returned"], row["processed_online"], row["online_processing_rate"]) == (2, 1, 0.5)
        assert (row["finished_with_due_date"], row["on_time"]) == (3, 2)
        assert row["on_time_rate"] == pytest.approx(0.6667)

        with rig.bus.client(ONESTOP) as client:  # the agency's own system sees its own figures
            assert client.get("/v1/stats").json()["portal"][0]["agencies"] == [row]
        with rig.bus.client(OUTSIDER) as client:  # another province's system sees none of them
            mine = client.get("/v1/stats").json()
            assert mine["scope"] == OUTSIDER.split("/")[0]
            assert mine["portal"][0]["agencies"] == []
        wait_until(
            lambda: rig.metric("lienthong_portal_online_submission_ratio", f'{{agency="{AGENCY}"}}') == 0.75,
            "the scorecard gauges",
            within=10,
        )
