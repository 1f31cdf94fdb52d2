"""The 766 rules of :mod:`router.scorecard`, one at a time, on hand-made histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from router.scorecard import Dossier, Offer, Query, Step, judge, period_bounds, period_of, scorecard

ICT = timezone(timedelta(hours=7))


def _at(day: int, hour: int = 9, month: int = 5) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=ICT)


DUE = _at(10)


def _dossier(
    steps: list[tuple[int, datetime]],
    due: datetime | None = DUE,
    *,
    channel: str = "2",
    procedure: str = "1.000001",
) -> Dossier:
    return Dossier(
        "000.00.00.H49-260501-0001",
        "000.00.00.H49",
        procedure,
        channel,
        _at(1),
        due,
        tuple(Step(status, at) for status, at in steps),
    )


def test_nine_is_preferred_over_ten() -> None:
    verdict = judge(_dossier([(2, _at(1)), (9, _at(10, 8)), (10, _at(12))]))
    assert (verdict.end, verdict.on_time) == (_at(10, 8), True)


def test_each_ending_status_ends_processing() -> None:
    for status in (3, 7, 8, 10):
        assert judge(_dossier([(2, _at(1)), (status, _at(11))])).on_time is False


def test_supplement_time_is_deducted() -> None:
    verdict = judge(_dossier([(2, _at(1)), (5, _at(3)), (4, _at(6)), (9, _at(12))]))
    assert verdict.supplement == timedelta(days=3)
    assert verdict.on_time is True  # 12 May less 3 days is before the 10th


def test_a_dossier_left_at_five_ends_at_the_time_of_five() -> None:
    verdict = judge(_dossier([(2, _at(1)), (5, _at(4))]))
    assert (verdict.end, verdict.supplement, verdict.on_time) == (_at(4), timedelta(0), True)


def test_more_than_one_supplement_request_is_late() -> None:
    verdict = judge(_dossier([(2, _at(1)), (5, _at(2)), (4, _at(3)), (5, _at(4)), (4, _at(5)), (9, _at(6))]))
    assert (verdict.supplement_requests, verdict.on_time) == (2, False)


def test_without_a_due_date_the_legal_maximum_stands_for_it() -> None:
    dossier = _dossier([(2, _at(1)), (9, _at(4))], due=None)
    assert judge(dossier).on_time is None
    assert judge(dossier, timedelta(days=5)).on_time is True
    assert judge(dossier, timedelta(days=2)).on_time is False


def test_a_dossier_in_processing_is_not_judged() -> None:
    assert judge(_dossier([(2, _at(1)), (4, _at(2))])).end is None


def test_periods_are_those_of_the_portals_time_zone() -> None:
    late_evening_utc = datetime(2026, 3, 31, 20, tzinfo=UTC)  # 1 April, 03:00 in Hà Nội
    assert period_of(late_evening_utc, "month") == "2026-04"
    assert period_of(late_evening_utc, "quarter") == "2026-Q2"
    start, end = period_bounds(datetime(2026, 12, 15, tzinfo=UTC), "quarter")
    assert (start.month, end.year, end.month) == (10, 2027, 1)


def test_online_services_counts_procedures_offered_online_that_got_an_online_dossier() -> None:
    offer = Offer(frozenset({"1.000001", "1.000002"}), {"000.00.00.H49": frozenset({"1.000001", "1.000003"})})
    dossiers = [
        _dossier([(2, _at(1))], procedure="1.000001"),
        _dossier([(2, _at(1))], procedure="1.000002", channel="1"),
    ]
    card = scorecard(dossiers, Query(start=_at(1, 0), end=_at(1, 0, month=6)), offer)
    total = card["total"]
    assert (
        total["online_services_offered"],
        total["online_services_used"],
        total["online_services_rate"],
    ) == (
        2,
        1,
        0.5,
    )
    (agency,) = card["agencies"]
    assert (agency["online_services_offered"], agency["online_services_used"]) == (1, 1)
    assert total["online_submission_rate"] == 0.5
