"""The 766 scorecard (GET /v1/stats ``scorecard``, the gauges): a seeded set of dossiers goes
through the bus to the portal simulator, whose catalogue the bus has read; the figures the bus
answers match figures computed here, independently, from the rules of 766 §2.1 as the reference
states them (portal-dvcqg.md §2.11):

- end of processing = time of status 3, 7, 8, 9 or 10 in the history, 9 preferred over 10;
- on time iff the end, less the time between "Yêu cầu bổ sung" (5) and its completion, is not
  after NgayHenTra;
- a dossier left at 5 ends at the time of 5; more than one supplement request counts as late;
- without NgayHenTra, the procedure's legal maximum duration stands for it.

The expected verdict of each dossier is written by hand next to it; the totals are counted here.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from simulators.portal_catalogue import Catalogue
from tests.support.bus import OPERATOR
from tests.support.portal import event, portal_rig
from tests.support.waiting import wait_until

ICT = timezone(timedelta(hours=7))
CATALOGUE = Catalogue()  # the simulator's, from the same seed


def _at(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=ICT)


def _performed_by(agency: str) -> list[dict[str, Any]]:
    return [p for p in CATALOGUE.procedures.values() if p["COQUANTHUCHIEN"][0]["MADONVI"] == agency]


def _online(procedure: dict[str, Any]) -> bool:
    return any(way["KENH"] == 2 for way in procedure["CACHTHUCTHUCHIEN"])


def _legal_hours(procedure: dict[str, Any]) -> float:
    hours = []
    for way in procedure["CACHTHUCTHUCHIEN"]:
        for item in way["THOIGIAN"]:
            unit = item["DONVITINH"]
            hours.append(item["THOIGIANGIAIQUYET"] * (1 if unit == "Giờ" else 24))
    return float(max(hours))


def _pick() -> tuple[str, str, dict[str, str]]:
    """Two agencies, each with two procedures offered online and one that is not."""
    by_agency: dict[str, list[dict[str, Any]]] = {}
    for entry in CATALOGUE.agencies:
        by_agency[entry["MADONVI"]] = _performed_by(entry["MADONVI"])
    chosen = [
        a
        for a, procs in sorted(by_agency.items())
        if sum(map(_online, procs)) >= 3 and any(not _online(p) for p in procs)
    ][:2]
    a, b = chosen
    codes: dict[str, str] = {}
    for agency, prefix in ((a, "p"), (b, "q")):
        procs = by_agency[agency]
        online = [
            p for p in procs if _online(p) and p["CACHTHUCTHUCHIEN"][0]["THOIGIAN"][0]["DONVITINH"] != "Giờ"
        ]
        codes[f"{prefix}_on1"], codes[f"{prefix}_on2"], codes[f"{prefix}_nodue"] = (
            online[0]["MATTHC"],
            online[1]["MATTHC"],
            online[2]["MATTHC"],
        )
        codes[f"{prefix}_off"] = next(p["MATTHC"] for p in procs if not _online(p))
    return a, b, codes


A, B, P = _pick()
NODUE_HOURS = _legal_hours(CATALOGUE.procedures[P["p_nodue"]])
NODUE_RECEIVED = _at(6, 1, 8)

# (agency, procedure, channel, received, due, [(status, time) after submission at 1],
#  expected: on_time True/False, None = not finished)
DOSSIERS: list[tuple[str, str, str, datetime, datetime | None, list[tuple[int, datetime]], bool | None]] = [
    # 1: ended at 9 before the due date (the 10 after it does not count)
    (
        A,
        P["p_on1"],
        "online",
        _at(5, 4, 8),
        _at(5, 10, 17),
        [(2, _at(5, 4)), (4, _at(5, 5)), (9, _at(5, 8)), (10, _at(5, 9))],
        True,
    ),
    # 2: 9 after the due date, but 4 days of supplement deducted: on time
    (
        A,
        P["p_on1"],
        "counter",
        _at(5, 4, 8),
        _at(5, 6, 17),
        [
            (2, _at(5, 4)),
            (4, _at(5, 5)),
            (5, _at(5, 5, 10)),
            (4, _at(5, 9, 10)),
            (9, _at(5, 9, 12)),
            (10, _at(5, 20)),
        ],
        True,
    ),
    # 3: late
    (
        A,
        P["p_on2"],
        "online",
        _at(5, 10),
        _at(5, 12, 17),
        [(2, _at(5, 10)), (4, _at(5, 11)), (9, _at(5, 15))],
        False,
    ),
    # 4: two supplement requests: late whatever the dates
    (
        A,
        P["p_on2"],
        "online",
        _at(5, 20),
        _at(6, 30),
        [
            (2, _at(5, 20)),
            (4, _at(5, 20, 10)),
            (5, _at(5, 21)),
            (4, _at(5, 22)),
            (5, _at(5, 23)),
            (4, _at(5, 24)),
            (9, _at(5, 25)),
        ],
        False,
    ),
    # 5: left at 5: ends at the time of 5, before the due date
    (
        A,
        P["p_off"],
        "counter",
        _at(5, 25),
        _at(6, 5),
        [(2, _at(5, 25)), (4, _at(5, 26)), (5, _at(5, 28))],
        True,
    ),
    # 6: no due date: the legal maximum, ended an hour inside it
    (
        A,
        P["p_nodue"],
        "online",
        NODUE_RECEIVED,
        None,
        [
            (2, NODUE_RECEIVED),
            (4, NODUE_RECEIVED + timedelta(hours=1)),
            (9, NODUE_RECEIVED + timedelta(hours=NODUE_HOURS - 1)),
        ],
        True,
    ),
    # 7: no due date: a day past the legal maximum
    (
        A,
        P["p_nodue"],
        "counter",
        NODUE_RECEIVED,
        None,
        [
            (2, NODUE_RECEIVED),
            (4, NODUE_RECEIVED + timedelta(hours=1)),
            (9, NODUE_RECEIVED + timedelta(hours=NODUE_HOURS + 24)),
        ],
        False,
    ),
    # 8: refused (3) the day after: an end, on time
    (B, P["q_on1"], "online", _at(6, 3), _at(6, 10), [(3, _at(6, 4))], True),
    # 9: withdrawn (7) after the due date: late
    (B, P["q_on1"], "online", _at(6, 5), _at(6, 7), [(7, _at(6, 9))], False),
    # 10: still in processing: not judged
    (B, P["q_off"], "counter", _at(6, 10), _at(6, 20), [(2, _at(6, 10)), (4, _at(6, 11))], None),
    # 11: received in April (outside the window), finished in May (inside it)
    (
        A,
        P["p_on1"],
        "online",
        _at(4, 28),
        _at(5, 3),
        [(2, _at(4, 28)), (4, _at(4, 29)), (9, _at(5, 2))],
        True,
    ),
    # 12: 9 on the due day before the due hour, 10 the day after: on time by the 9
    (
        B,
        P["q_on2"],
        "counter",
        _at(6, 12),
        _at(6, 15, 18),
        [(2, _at(6, 12)), (4, _at(6, 13)), (9, _at(6, 15, 12)), (10, _at(6, 16))],
        True,
    ),
]
START, END = _at(5, 1, 0), _at(7, 1, 0)


def _code(number: int, agency: str, received: datetime) -> str:
    return f"{agency}-{received:%y%m%d}-{number + 1:04d}"


Spec = tuple[str, str, str, datetime, datetime | None, list[tuple[int, datetime]], bool | None]


def _events(number: int, spec: Spec | None = None) -> list[dict[str, Any]]:
    agency, procedure, channel, received, due, steps, _ = spec or DOSSIERS[number]
    dossier = _code(number, agency, received)
    data: dict[str, Any] = {
        "dossierCode": dossier,
        "agencyCode": agency,
        "procedureCode": procedure,
        "applicant": {"type": "citizen", "name": f"Nguyễn Văn {number}", "personalId": f"022089{number:06d}"},
        "channel": channel,
        "submittedAt": received.isoformat(),
        "receivedAt": received.isoformat(),
        "status": 1,
    }
    if due is not None:
        data["dueAt"] = due.isoformat()
    out = [event("dossier.submitted", dossier, data, f"{dossier}#submitted")]
    for step, (status, when) in enumerate(steps, start=1):
        change = {
            "dossierCode": dossier,
            "agencyCode": agency,
            "status": status,
            "changedAt": when.isoformat(),
        }
        if status == 10:
            change["returnMethod"] = "online"
        out.append(event("dossier.status.changed", dossier, change, f"{dossier}#{step}"))
    return out


def _month(moment: datetime) -> str:
    return f"{moment.astimezone(ICT):%Y-%m}"


def _end(steps: list[tuple[int, datetime]]) -> datetime | None:
    """766 §2.1, written out: the 9 if there is one, else the other endings, else a last 5."""
    nines = [when for status, when in steps if status == 9]
    if nines:
        return nines[-1]
    ends = [when for status, when in steps if status in (3, 7, 8, 10)]
    if ends:
        return ends[-1]
    if steps[-1][0] == 5:
        return steps[-1][1]
    return None


def _expected(selected: list[int]) -> dict[str, Any]:
    """The figures of the dossiers numbered ``selected``, counted plainly."""
    received = [n for n in selected if START <= DOSSIERS[n][3] < END]
    finished = []
    for n in selected:
        end = _end(DOSSIERS[n][5])
        if end is not None and START <= end < END:
            finished.append(n)
    verdicts = Counter(DOSSIERS[n][6] for n in finished)
    online = [n for n in received if DOSSIERS[n][2] == "online"]
    return {
        "received": len(received),
        "received_online": len(online),
        "online_submission_rate": round(len(online) / len(received), 4) if received else None,
        "finished": len(finished),
        "judged": verdicts[True] + verdicts[False],
        "on_time": verdicts[True],
        "late": verdicts[False],
        "on_time_rate": round(verdicts[True] / (verdicts[True] + verdicts[False]), 4) if finished else None,
    }


def _online_services(agency: str | None, selected: list[int]) -> tuple[int, int]:
    """(offered online, of those with an online dossier received in the window)."""
    offered = {
        p["MATTHC"]
        for p in CATALOGUE.procedures.values()
        if _online(p) and (agency is None or p["COQUANTHUCHIEN"][0]["MADONVI"] == agency)
    }
    used = {
        DOSSIERS[n][1]
        for n in selected
        if DOSSIERS[n][2] == "online" and START <= DOSSIERS[n][3] < END and DOSSIERS[n][1] in offered
    }
    return len(offered), len(used)


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "received",
        "received_online",
        "online_submission_rate",
        "finished",
        "judged",
        "on_time",
        "late",
        "on_time_rate",
    )
    return {key: row[key] for key in keys}


def test_the_scorecard_matches_the_766_rules_computed_independently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with portal_rig(tmp_path, monkeypatch, options={"catalogue_every": "1h"}) as rig:
        events = [e for n in range(len(DOSSIERS)) for e in _events(n)]
        rig.publish(events)
        wait_until(
            lambda: rig.metric("lienthong_portal_sync_lag_seconds_count") == len(events),
            "the dossiers",
            within=60,
        )
        wait_until(
            lambda: rig.metric("lienthong_portal_catalogue_syncs_total", '{outcome="ok"}') == 1,
            "the catalogue",
            within=120,
        )
        assert rig.dead_letters() == []
        every = list(range(len(DOSSIERS)))
        with rig.bus.client(OPERATOR) as client:
            reply = client.get("/v1/stats", params={"from": "2026-05-01", "to": "2026-07-01"})
            assert reply.status_code == 200, reply.text
            card = reply.json()["portal"][0]["scorecard"]
            assert card["period"] == "month"
            assert _figures(card["total"]) == _expected(every)
            offered, used = _online_services(None, every)
            assert (card["total"]["online_services_offered"], card["total"]["online_services_used"]) == (
                offered,
                used,
            )
            assert card["total"]["online_services_rate"] == round(used / offered, 4)

            # by month: received in the month of reception, finished in the month of the end
            rows = {row["period"]: _figures(row) for row in card["periods"]}
            assert set(rows) == {"2026-05", "2026-06"}
            for month, row in rows.items():
                in_month = [n for n in every if _month(DOSSIERS[n][3]) == month]
                ended = [n for n in every if (e := _end(DOSSIERS[n][5])) is not None and _month(e) == month]
                assert row["received"] == len([n for n in in_month if START <= DOSSIERS[n][3] < END])
                assert row["finished"] == len(ended)
                assert row["on_time"] == sum(DOSSIERS[n][6] is True for n in ended)
                assert row["late"] == sum(DOSSIERS[n][6] is False for n in ended)

            # per agency and per procedure
            agencies = {row["agency"]: row for row in card["agencies"]}
            for agency in (A, B):
                mine = [n for n in every if DOSSIERS[n][0] == agency]
                assert _figures(agencies[agency]) == _expected(mine)
                offered, used = _online_services(agency, mine)
                assert (
                    agencies[agency]["online_services_offered"],
                    agencies[agency]["online_services_used"],
                ) == (
                    offered,
                    used,
                )
            procedures = {row["procedure"]: _figures(row) for row in card["procedures"]}
            for code in {d[1] for d in DOSSIERS}:
                assert procedures[code] == _expected([n for n in every if DOSSIERS[n][1] == code])

            # narrowed to one agency and one procedure; by quarter
            one = client.get(
                "/v1/stats",
                params={
                    "from": "2026-05-01",
                    "to": "2026-07-01",
                    "agency": A,
                    "procedure": P["p_on1"],
                    "period": "quarter",
                },
            ).json()["portal"][0]["scorecard"]
            chosen = [n for n in every if DOSSIERS[n][0] == A and DOSSIERS[n][1] == P["p_on1"]]
            assert _figures(one["total"]) == _expected(chosen)
            assert [row["period"] for row in one["periods"]] == ["2026-Q2"]
            assert one["total"]["online_services_offered"] == 1

        # the gauges hold the current month and quarter: one dossier of A received and ended now
        now = datetime.now(ICT)
        today: Spec = (
            A,
            P["p_on1"],
            "online",
            now - timedelta(seconds=2),
            now + timedelta(days=1),
            [(2, now - timedelta(seconds=1)), (9, now)],
            True,
        )
        rig.publish(_events(len(DOSSIERS), today))
        offered, _ = _online_services(A, [])
        for period in ("month", "quarter"):
            labels = f'{{agency="{A}",period="{period}"}}'

            def on_time(labels: str = labels) -> bool:
                return rig.metric("lienthong_portal_scorecard_on_time_ratio", labels) == 1.0

            wait_until(on_time, f"the {period}'s on-time gauge", within=30)
            assert rig.metric("lienthong_portal_scorecard_received", labels) == 1
            assert rig.metric("lienthong_portal_scorecard_finished", labels) == 1
            assert rig.metric("lienthong_portal_scorecard_online_submission_ratio", labels) == 1.0
            assert rig.metric("lienthong_portal_scorecard_online_services_ratio", labels) == round(
                1 / offered, 4
            )


BAD_QUERIES: list[tuple[dict[str, str], str]] = [
    ({"period": "week"}, "/query/period"),
    ({"from": "yesterday"}, "/query/from"),
    ({"from": "2026-05-01T00:00:00"}, "/query/from"),
    ({"procedure": "x" * 100}, "/query/procedure"),
    ({"to": "2026-02-30"}, "/query/to"),
]


def test_a_bad_stats_query_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with portal_rig(tmp_path, monkeypatch) as rig, rig.bus.client(OPERATOR) as client:
        for params, pointer in BAD_QUERIES:
            reply = client.get("/v1/stats", params=params)
            assert reply.status_code == 400, (params, reply.text)
            assert reply.headers["content-type"].startswith("application/problem+json")
            problem = reply.json()
            assert problem["code"] == "invalid_request"
            assert pointer in [error.get("pointer") for error in problem.get("errors", [])], problem
        # instants beyond what a time zone holds stand for the first or the last; an empty window
        # selects nothing
        for params in (
            {"from": "0001-01-01", "to": "9999-12-31T23:59:59-12:00"},
            {"from": "2026-06-01", "to": "2026-05-01"},
        ):
            reply = client.get("/v1/stats", params=params)
            assert reply.status_code == 200, (params, reply.text)
