"""Dossier lives synchronised to the portal simulator through the bus: every dossier ends
identical on the portal, and the portal saw each dossier's calls in order, none twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.portal import (
    LIVES,
    assert_lives_synced,
    code,
    life_events,
    lives_ended,
    portal_rig,
)
from tests.support.waiting import wait_until

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

        wait_until(
            lives_ended(rig.portal, lives),
            "every dossier at its last status on the portal",
            within=90,
            every=0.5,
        )
        assert rig.dead_letters() == []
        assert_lives_synced(rig.portal, lives, events)
        # the control route shows the same log
        sample = code(0)
        assert rig.call_log(sample) == rig.portal.store.log[sample]
        assert rig.metric("lienthong_portal_unsynced_dossiers") == 0
        assert rig.metric("lienthong_portal_sync_lag_seconds_count") == sum(
            len(life) for life in lives.values()
        )
