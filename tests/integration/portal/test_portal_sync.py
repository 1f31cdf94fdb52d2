"""Dossier lives synchronised to the portal simulator through the bus: every dossier ends
identical on the portal, and the portal saw each dossier's calls in order, none twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.portal.mapping import portal_date
from tests.support.portal import LIVES, code, life_events, portal_rig, synced_statuses, wait_for

DOSSIERS = 1000


def test_a_thousand_dossier_lives_end_identical_on_the_portal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lives = {number: LIVES[number % len(LIVES)] for number in range(DOSSIERS)}
    events = {number: life_events(number, life) for number, life in lives.items()}
    with portal_rig(tmp_path, monkeypatch) as rig:
        # step by step across all dossiers, so that every dossier's events interleave with others'
        for step in range(max(len(life) for life in lives.values())):
            rig.publish([events[n][step] for n in lives if step < len(events[n])])

        def done() -> bool:
            held = rig.portal.store.dossiers
            return all(
                held.get(code(n), {}).get("TrangThaiHoSo") == str(life[-1]) for n, life in lives.items()
            )

        wait_for(done, 90, "every dossier at its last status on the portal", interval=0.5)
        assert rig.dead_letters() == []
        for number, life in lives.items():
            dossier = code(number)
            record = rig.portal.store.dossiers[dossier]
            last = events[number][-1]["data"]
            assert record["MaHoSo"] == dossier
            assert record["DinhDanhCHS"] == [{"LoaiDinhDanh": "1", "SoDinhDanh": f"022089{number:06d}"}]
            assert record["NgayNopHoSo"] == portal_date(events[number][0]["data"]["submittedAt"])
            if life[-1] == 10:
                assert record["NgayTra"] == portal_date(last["changedAt"])
            # the portal accepted exactly the life's statuses, in order, each once
            log = rig.portal.store.log[dossier]
            assert synced_statuses(log) == list(life), (dossier, log)
            assert [e["seq"] for e in log] == sorted(e["seq"] for e in log)
        # the control route shows the same log
        sample = code(0)
        assert rig.call_log(sample) == rig.portal.store.log[sample]
        assert rig.metric("lienthong_portal_unsynced_dossiers") == 0
        assert rig.metric("lienthong_portal_sync_lag_seconds_count") == sum(
            len(life) for life in lives.values()
        )
