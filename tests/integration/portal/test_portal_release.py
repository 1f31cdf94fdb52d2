"""No stranded dossier: the moves real clients send (2 -> 10, 6 -> 9, 10 -> 1, 4 after 9) reach
the portal simulator through the bus under ``status_policy: forward``, reported to operators;
under ``strict`` they are held, a later event waits behind them, and an operator's release
(through the CLI or the API) lets them through, audited with who and why, the later events
arriving in order. Hostile requests change nothing."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.bus import ONESTOP, OPERATOR, BusProcess
from tests.support.cli import lienthong
from tests.support.portal import (
    PortalRig,
    code,
    life_events,
    portal_rig,
    status_changed,
    synced_statuses,
)
from tests.support.waiting import wait_until

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
OFFICIAL = "canbo.vanhanh.07"
REASON = "Hồ sơ trả kết quả tại chỗ, đã đối chiếu với hệ thống một cửa"
STRICT = {"status_policy": "strict"}


def statuses(rig: PortalRig, number: int) -> list[int]:
    """The statuses the portal accepted for the dossier, in order."""
    return [int(status) for status in synced_statuses(rig.portal.store.log.get(code(number), []))]


def at_status(rig: PortalRig, number: int, status: int) -> bool:
    record = rig.portal.store.dossiers.get(code(number))
    return record is not None and int(record["TrangThaiHoSo"]) == status


def waiting(rig: PortalRig) -> list[dict[str, Any]]:
    """The dead letters not replayed yet."""
    return rig.dead_letters()


def audit_lines(bus: BusProcess, action: str) -> list[list[str]]:
    shown = lienthong("audit", "show", "--config", str(bus.path), "--limit", "200")
    assert shown.returncode == 0, shown.stderr
    return [line.split("\t") for line in shown.stdout.splitlines() if f"\tadmin.{action}\t" in line]


def release(
    bus: BusProcess, dossier: str, reason: Any, *, system: str = OPERATOR, **headers: str
) -> httpx.Response:
    with bus.client(system) as client:
        return client.post(f"/v1/portal/dossiers/{dossier}/release", json={"reason": reason}, headers=headers)


def test_under_forward_the_moves_real_clients_send_reach_the_portal_and_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a result returned on the spot (2 -> 10), undone (10 -> 1), accepted again, a payment
    # episode closed the way TD's sync writes it (6 -> 9), and the result returned
    life = (1, 2, 10, 1, 2, 4, 6, 9, 10)
    with portal_rig(tmp_path, monkeypatch) as rig:
        rig.publish(life_events(0, life))
        wait_until(
            lambda: statuses(rig, 0) == list(life), "the dossier's whole life on the portal", within=30
        )
        assert at_status(rig, 0, 10)
        assert waiting(rig) == []
        for old, new in ((2, 10), (10, 1), (6, 9)):
            labels = f'{{from="{old}",to="{new}"}}'
            assert rig.metric("lienthong_portal_unusual_moves_total", labels) == 1, labels
        assert rig.metric("lienthong_portal_held_transitions_total") == 0

        with rig.bus.client(OPERATOR) as operator:
            listed = operator.get("/v1/portal/unusual-moves", params={"limit": 2, "connector": "portal"})
            assert listed.status_code == 200, listed.text
            page = listed.json()
            assert [(m["dossier"], m["from"], m["to"]) for m in page["moves"]] == [
                (code(0), 2, 10),
                (code(0), 10, 1),
            ]
            assert not any(m["accepted_by_release"] for m in page["moves"])
            rest = operator.get("/v1/portal/unusual-moves", params={"after": page["next_after"]}).json()
            assert [(m["from"], m["to"]) for m in rest["moves"]] == [(6, 9)]
            assert rest["next_after"] is None
            elsewhere = operator.get("/v1/portal/unusual-moves", params={"connector": "another"})
            assert (elsewhere.status_code, elsewhere.json()["code"]) == (404, "not_found")
        with rig.bus.client(ONESTOP) as onestop:
            refused = onestop.get("/v1/portal/unusual-moves")
            assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
        # the console lists them too
        with httpx.Client(base_url=rig.bus.url, timeout=30) as browser:
            signed = browser.post(
                "/console/login", content=f"api_key={rig.bus.config.keys[OPERATOR]}", headers=FORM
            )
            assert signed.status_code == 303
            live = browser.get("/console/live").text
            table = live[live.index('data-table="portal-moves"') :]
            assert code(0) in table and "/console/portal/release" in live


def test_under_strict_a_held_dossier_waits_until_an_operator_releases_it_with_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with portal_rig(tmp_path, monkeypatch, options=STRICT) as rig:
        rig.publish(life_events(0, (1, 2)))
        wait_until(lambda: statuses(rig, 0) == [1, 2], "the dossier accepted", within=30)
        # 2 -> 10 is held; the undo (10 -> 1) and what follows wait behind it
        rig.publish([status_changed(0, 2, 10), status_changed(0, 3, 1), status_changed(0, 4, 2)])
        wait_until(lambda: len(waiting(rig)) == 3, "the held event and the two behind it", within=30)
        letters = waiting(rig)
        assert "held (not_allowed)" in letters[0]["last_error"]
        assert [letter["reason"] for letter in letters[1:]] == ["held_subject", "held_subject"]
        assert statuses(rig, 0) == [1, 2]  # nothing forwarded
        assert rig.metric("lienthong_portal_held_transitions_total", '{reason="not_allowed"}') == 1

        # a later event keeps waiting: the dossier is held, not forgotten
        rig.publish([status_changed(0, 5, 4)])
        wait_until(lambda: len(waiting(rig)) == 4, "the later event held behind", within=30)

        env = {
            **os.environ,
            "LIENTHONG_URL": rig.bus.url,
            "LIENTHONG_API_KEY": rig.bus.config.keys[OPERATOR],
        }
        done = lienthong("portal", "release", code(0), "--reason", REASON, "--official", OFFICIAL, env=env)
        assert done.returncode == 0, done.stderr
        assert "moves accepted: 2 -> 10, 10 -> 1" in done.stdout
        assert "4 dead letter(s) replayed in order" in done.stdout

        # the held events, then the later ones, in their order; none twice
        wait_until(lambda: statuses(rig, 0) == [1, 2, 10, 1, 2, 4], "the released events in order", within=30)
        assert waiting(rig) == []
        rig.publish([status_changed(0, 6, 9), status_changed(0, 7, 10)])
        wait_until(lambda: at_status(rig, 0, 10), "the next events", within=30)
        assert statuses(rig, 0) == [1, 2, 10, 1, 2, 4, 9, 10]
        assert rig.metric("lienthong_portal_releases_total") == 1

        # nothing left to release: a clear refusal
        again = lienthong("portal", "release", code(0), "--reason", REASON, "--official", OFFICIAL, env=env)
        assert again.returncode == 1
        assert "409 dossier_not_held" in again.stderr

    [record] = audit_lines(rig.bus, "portal.release")
    assert record[2].startswith(OPERATOR) and record[3] == f"{OFFICIAL} [asserted]"
    assert "moves accepted 2->10, 10->1" in record[5] and f"reason: {REASON}" in record[5]
    assert (record[7], record[8]) == (code(0), "done")
    assert audit_lines(rig.bus, "replay"), "the replay of the dossier's letters is audited as well"


def test_under_strict_an_operator_releases_from_the_console(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with portal_rig(tmp_path, monkeypatch, options=STRICT) as rig:
        rig.publish(life_events(0, (1, 2, 4, 6)))
        wait_until(lambda: at_status(rig, 0, 6), "the payment requested", within=30)
        rig.publish([status_changed(0, 4, 9), status_changed(0, 5, 10)])  # TD's 6 -> 9, then returned
        wait_until(lambda: len(waiting(rig)) == 2, "the held move and the event behind it", within=30)
        with httpx.Client(base_url=rig.bus.url, timeout=30) as browser:
            signed = browser.post(
                "/console/login", content=f"api_key={rig.bus.config.keys[OPERATOR]}", headers=FORM
            )
            assert signed.status_code == 303
            found = re.search(r'name="csrf" value="([0-9a-f]+)"', browser.get("/console").text)
            assert found is not None
            form = {"csrf": found.group(1), "dossier": code(0), "reason": REASON}
            forged = browser.post("/console/portal/release", data={**form, "csrf": "0" * 64})
            assert forged.status_code == 403 and len(waiting(rig)) == 2
            done = browser.post("/console/portal/release", data=form)
            assert done.status_code == 303, done.text
            page = browser.get(done.headers["location"]).text
            assert f"Released dossier {code(0)}" in page
        wait_until(lambda: at_status(rig, 0, 10), "the released events", within=30)
        assert statuses(rig, 0) == [1, 2, 4, 6, 9, 10]
    [record] = audit_lines(rig.bus, "portal.release")
    assert record[2].startswith(OPERATOR) and record[3] == "console" and record[7] == code(0)
    assert "moves accepted 6->9" in record[5] and f"reason: {REASON}" in record[5]


def test_under_strict_an_operator_releases_through_the_api_and_hostile_requests_change_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held, other, purged = 0, 1, 2
    with portal_rig(tmp_path, monkeypatch, options=STRICT) as rig:
        rig.publish(
            [*life_events(held, (1, 2, 4, 9)), *life_events(other, (1, 2)), *life_events(purged, (1, 2))]
        )
        wait_until(
            lambda: at_status(rig, held, 9) and at_status(rig, other, 2) and at_status(rig, purged, 2),
            "the lives so far",
            within=30,
        )
        # processing resumes after 9 (TD's sync sends 4 after 9), then ends again
        rig.publish([status_changed(held, 10, 4), status_changed(held, 11, 9), status_changed(held, 12, 10)])
        rig.publish([status_changed(purged, 2, 10), status_changed(purged, 3, 4)])  # an operator purges these
        wait_until(lambda: len(waiting(rig)) == 5, "the held events", within=30)
        dossier = code(held)

        # hostile or mistaken requests: refused, nothing released, nothing recorded
        with httpx.Client(base_url=rig.bus.url, timeout=30) as anonymous:
            no_key = anonymous.post(f"/v1/portal/dossiers/{dossier}/release", json={"reason": REASON})
        refusals = [
            (no_key, 401, "unauthenticated"),
            (
                release(rig.bus, dossier, REASON, system=ONESTOP, **{"X-Official-Id": OFFICIAL}),
                403,
                "forbidden",
            ),
            (release(rig.bus, dossier, REASON), 400, "official_required"),
            (release(rig.bus, dossier, "", **{"X-Official-Id": OFFICIAL}), 400, "invalid_request"),
            (release(rig.bus, dossier, "  ", **{"X-Official-Id": OFFICIAL}), 400, "invalid_request"),
            (release(rig.bus, dossier, "x" * 501, **{"X-Official-Id": OFFICIAL}), 400, "invalid_request"),
            (release(rig.bus, dossier, "a\nb", **{"X-Official-Id": OFFICIAL}), 400, "invalid_request"),
            (release(rig.bus, dossier, 42, **{"X-Official-Id": OFFICIAL}), 400, "invalid_request"),
            (release(rig.bus, code(99), REASON, **{"X-Official-Id": OFFICIAL}), 404, "dossier_not_found"),
            (release(rig.bus, code(other), REASON, **{"X-Official-Id": OFFICIAL}), 409, "dossier_not_held"),
        ]
        for reply, status, problem in refusals:
            assert (reply.status_code, reply.json()["code"]) == (status, problem), reply.text
            assert reply.headers["content-type"].startswith("application/problem+json")
            assert REASON not in reply.text
        assert len(waiting(rig)) == 5 and at_status(rig, held, 9)
        assert audit_lines(rig.bus, "portal.release") == []

        done = release(rig.bus, dossier, REASON, **{"X-Official-Id": OFFICIAL})
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["dossier"] == dossier and body["accepted_moves"] == [{"from": 9, "to": 4}]
        assert len(body["replayed"]["portal"]) == 3
        wait_until(lambda: at_status(rig, held, 10), "the released events", within=30)
        assert statuses(rig, held) == [1, 2, 4, 9, 4, 9, 10]
        assert rig.metric("lienthong_portal_unusual_moves_total", '{from="9",to="4"}') == 1
        with rig.bus.client(OPERATOR) as operator:
            moves = operator.get("/v1/portal/unusual-moves", params={"dossier": dossier}).json()["moves"]
        assert [(m["from"], m["to"], m["accepted_by_release"]) for m in moves] == [(9, 4, True)]

        # purging a held dossier's letters still lifts its hold: its later events flow again
        with rig.bus.client(OPERATOR) as operator:
            gone = operator.delete("/v1/subscriptions/portal/dead-letters", params={"subject": code(purged)})
        assert gone.status_code == 200 and gone.json()["purged"] == 2
        rig.publish([status_changed(purged, 4, 4)])
        wait_until(lambda: at_status(rig, purged, 4), "the purged dossier's next event", within=30)
        assert statuses(rig, purged) == [1, 2, 4]

    [record] = audit_lines(rig.bus, "portal.release")
    assert record[3] == f"{OFFICIAL} [asserted]" and record[7] == dossier
    assert re.search(r"moves accepted 9->4; 3 dead letter\(s\) replayed", record[5]), record[5]
