"""Dossier lives synchronised through a provincial bridge (``envelope: bridge``) by the bus: bare
arrays to the bridge's create, update and progress URLs, no portal login, and every dossier ends
identical on the portal behind it, its calls in order.

Two bridges as the reference shows them (portal-dvcqg.md §4): Hà Giang's (one URL, the agency and
``isUpdating`` as query parameters, no lookup: the bus creates, and updates when the bridge
answers "already exists") and Thanh Hóa's (a create URL and an update URL, a lookup, a bearer
token)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simulators.portal import BRIDGE_CREATE, BRIDGE_LOOKUP, BRIDGE_PROGRESS, BRIDGE_SYNC, BRIDGE_UPDATE
from tests.support.portal import code, life_events, portal_rig, progress, submitted, synced_statuses
from tests.support.waiting import wait_until

TOKEN_ENV = "LIENTHONG_TEST_BRIDGE_TOKEN"
TOKEN = "bridge-token-for-the-test"
NO_LOGIN = {"username_env": None, "password_env": None}
LIVES = ((1, 2, 4, 9, 10), (1, 2, 4, 5, 4, 9), (1, 3))

HG: dict[str, Any] = {
    **NO_LOGIN,
    "envelope": "bridge",
    "bridge": {
        "create_url": BRIDGE_SYNC,
        "create_params": {"MaDinhDanhDV": "{agency}", "isUpdating": "False"},
        "update_url": BRIDGE_SYNC,
        "update_params": {"MaDinhDanhDV": "{agency}", "isUpdating": "True"},
        "progress_url": BRIDGE_PROGRESS,
    },
}
TD: dict[str, Any] = {
    **NO_LOGIN,
    "envelope": "bridge",
    "bridge": {
        "create_url": BRIDGE_CREATE,
        "update_url": BRIDGE_UPDATE,
        "progress_url": BRIDGE_PROGRESS,
        "lookup_url": BRIDGE_LOOKUP,
        "lookup_params": {"mahoso": "{dossier}"},
        "bearer_env": TOKEN_ENV,
    },
}


@pytest.mark.parametrize("bridge", [pytest.param(HG, id="HG"), pytest.param(TD, id="TD")])
def test_dossier_lives_through_a_bridge_end_identical(
    bridge: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    dossiers = 30
    events = {n: life_events(n, LIVES[n % len(LIVES)]) for n in range(dossiers)}
    with portal_rig(tmp_path, monkeypatch, options=bridge) as rig:
        rig.portal.bridge_token = TOKEN if "bearer_env" in bridge["bridge"] else None
        # a dossier the portal has already (an earlier system sent it): the create finds it there
        planted = submitted(dossiers)
        rig.portal.store.put(code(dossiers), {"MaHoSo": code(dossiers), "TrangThaiHoSo": "1"})
        for step in range(max(len(e) for e in events.values())):
            rig.publish([e[step] for e in events.values() if step < len(e)])
        rig.publish([planted, progress(0, 1, 10)])

        def done() -> bool:
            held = rig.portal.store.dossiers
            return (
                all(
                    int(held.get(code(n), {}).get("TrangThaiHoSo", 0)) == LIVES[n % len(LIVES)][-1]
                    for n in events
                )
                and held[code(dossiers)].get("MaTTHC") is not None
            )

        wait_until(done, "every dossier at its last status behind the bridge", within=60, every=0.3)
        wait_until(lambda: bool(rig.portal.store.progress.get(code(0))), "the progress item", within=30)
        assert rig.dead_letters() == []
        assert rig.portal.logins == 0  # the bridge holds the session
        for n, life in ((n, LIVES[n % len(LIVES)]) for n in events):
            assert synced_statuses(rig.portal.store.log[code(n)]) == list(life)
            last = events[n][-1]["data"]
            assert rig.portal.store.dossiers[code(n)]["MaHoSo"] == last["dossierCode"]
        syncs = [
            (e["isUpdating"], e["written"])
            for e in rig.portal.store.log[code(dossiers)]
            if e["service"] == "DongBoHoSoMC"
        ]
        if "lookup_url" in bridge["bridge"]:
            assert syncs == [("True", True)]  # looked up first: an update
        else:
            assert syncs == [("False", False), ("True", True)]  # "already exists", then the update
        assert rig.portal.store.dossiers[code(dossiers)]["MaTTHC"] == planted["data"]["procedureCode"]
