"""The portal's scorecard (Decision 766, the operator's formulas of §2.1), computed from what the
bus sent to the portal: each dossier's record and its history of statuses.

Per dossier (:func:`judge`):

- the **end of processing** is the time of a status 3, 7, 8, 9 or 10 in the history; when both a
  9 and a 10 are there, the 9 counts (the result was ready then; returning it is not processing);
  of several, the last (a dossier taken back into processing ends when it ends again);
- a dossier whose history stops at 5 (a supplement was requested and never came) ends at the time
  of that 5;
- **supplement time** (from a move into 5 to the next move out of it) is deducted from the
  processing time;
- **on time** iff the end, less the supplement time, is not after the promised date
  (``NgayHenTra``); without one, the reception (``NgayTiepNhan``, else ``NgayNopHoSo``) plus the
  procedure's legal maximum duration stands for it; with neither the dossier is not judged;
- more than one supplement request makes the dossier late whatever its dates.

Across dossiers (:func:`scorecard`), by period (month or quarter, Asia/Ho_Chi_Minh), per agency and
per procedure: a dossier counts as *received* in the period of its reception and as *finished* in
the period of its end, as the portal counts "received in the period" and "processed in the period".
The ratios provinces are judged by: the share of dossiers submitted online (``KenhThucHien`` 2),
and the share of the procedures offered online (the catalogue's ``CACHTHUCTHUCHIEN`` with ``KENH``
2) that received at least one online dossier.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

PORTAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

Period = Literal["month", "quarter"]
PERIODS: tuple[Period, ...] = ("month", "quarter")

SUPPLEMENT = 5
FINISHED = 9
RETURNED = 10
ENDINGS = frozenset({3, 7, 8, 9, 10})
ONLINE = "2"  # KenhThucHien / KENH: submitted online


@dataclass(frozen=True, slots=True)
class Step:
    """One status the portal was told of, and when (an aware datetime)."""

    status: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Dossier:
    """What the scorecard reads of one dossier."""

    code: str
    agency: str
    procedure: str
    channel: str  # KenhThucHien as sent: "1" direct, "2" online, "3" postal ("" unknown)
    received_at: datetime | None  # NgayTiepNhan, else NgayNopHoSo
    due_at: datetime | None  # NgayHenTra
    steps: tuple[Step, ...]  # in the order sent

    @property
    def online(self) -> bool:
        return self.channel == ONLINE


@dataclass(frozen=True, slots=True)
class Verdict:
    end: datetime | None  # None: still in processing
    supplement: timedelta
    supplement_requests: int
    due: datetime | None  # the promised date, or reception + legal maximum
    on_time: bool | None  # None: not finished, or nothing to judge against


def end_of_processing(steps: Sequence[Step]) -> datetime | None:
    finished = [s.at for s in steps if s.status == FINISHED]
    if finished:
        return finished[-1]
    ends = [s.at for s in steps if s.status in ENDINGS]
    if ends:
        return ends[-1]
    if steps and steps[-1].status == SUPPLEMENT:
        return steps[-1].at
    return None


def supplement_time(steps: Sequence[Step], end: datetime | None) -> tuple[timedelta, int]:
    """The time spent waiting for supplements before ``end``, and how many were requested."""
    total = timedelta(0)
    requests = 0
    opened: datetime | None = None
    for step in steps:
        if step.status == SUPPLEMENT:
            if opened is None:
                opened = step.at
                requests += 1
        elif opened is not None:
            closed = step.at if end is None else min(step.at, end)
            total += max(timedelta(0), closed - opened)
            opened = None
    return total, requests


def judge(dossier: Dossier, legal_maximum: timedelta | None = None) -> Verdict:
    end = end_of_processing(dossier.steps)
    supplement, requests = supplement_time(dossier.steps, end)
    due = dossier.due_at
    if due is None and legal_maximum is not None and dossier.received_at is not None:
        due = dossier.received_at + legal_maximum
    on_time: bool | None = None
    if end is not None:
        if requests > 1:
            on_time = False
        elif due is not None:
            on_time = end - supplement <= due
    return Verdict(end, supplement, requests, due, on_time)


def period_of(instant: datetime, period: Period) -> str:
    """``2024-05`` (month) or ``2024-Q2`` (quarter), in the portal's time zone."""
    local = instant.astimezone(PORTAL_TZ)
    if period == "month":
        return f"{local.year:04d}-{local.month:02d}"
    return f"{local.year:04d}-Q{(local.month - 1) // 3 + 1}"


@dataclass(slots=True)
class Figures:
    received: int = 0  # dossiers received in the period
    received_online: int = 0  # of those, submitted online
    finished: int = 0  # dossiers whose processing ended in the period
    judged: int = 0  # of those, with a promised date (or a legal maximum)
    on_time: int = 0
    late: int = 0
    supplement_hours: float = 0.0  # supplement time deducted, over the finished dossiers
    online_procedures: set[str] = field(default_factory=set)  # procedures with an online dossier

    def add_received(self, dossier: Dossier) -> None:
        self.received += 1
        if dossier.online:
            self.received_online += 1
            self.online_procedures.add(dossier.procedure)

    def add_finished(self, verdict: Verdict) -> None:
        self.finished += 1
        self.supplement_hours += verdict.supplement.total_seconds() / 3600
        if verdict.on_time is not None:
            self.judged += 1
            if verdict.on_time:
                self.on_time += 1
            else:
                self.late += 1

    def as_dict(self, offered_online: frozenset[str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "received": self.received,
            "received_online": self.received_online,
            "online_submission_rate": _share(self.received_online, self.received),
            "finished": self.finished,
            "judged": self.judged,
            "on_time": self.on_time,
            "late": self.late,
            "on_time_rate": _share(self.on_time, self.judged),
            "supplement_hours": round(self.supplement_hours, 3),
        }
        if offered_online is not None:
            used = len(self.online_procedures & offered_online)
            out["online_services_offered"] = len(offered_online)
            out["online_services_used"] = used
            out["online_services_rate"] = _share(used, len(offered_online))
        return out


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True, slots=True)
class Offer:
    """The catalogue's view: the procedures offered online and, per agency, those it performs."""

    online: frozenset[str] = frozenset()
    by_agency: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def of_agency(self, agency: str) -> frozenset[str]:
        return self.by_agency.get(agency, frozenset()) & self.online


@dataclass(frozen=True, slots=True)
class Query:
    period: Period = "month"
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    procedure: str | None = None
    agency: str | None = None

    def within(self, instant: datetime | None) -> bool:
        if instant is None:
            return False
        return (self.start is None or instant >= self.start) and (self.end is None or instant < self.end)

    def selects(self, dossier: Dossier) -> bool:
        return (self.procedure is None or dossier.procedure == self.procedure) and (
            self.agency is None or dossier.agency == self.agency
        )


def scorecard(
    dossiers: Iterable[Dossier],
    query: Query,
    offer: Offer | None = None,
    legal_maximum: Callable[[str], timedelta | None] = lambda _: None,
) -> dict[str, Any]:
    """The figures of the dossiers ``query`` selects: in total, by period, per agency and per
    procedure; with the online-services ratio when the catalogue's ``offer`` is known."""
    total = Figures()
    by_period: dict[str, Figures] = defaultdict(Figures)
    by_agency: dict[str, Figures] = defaultdict(Figures)
    by_procedure: dict[str, Figures] = defaultdict(Figures)
    for dossier in dossiers:
        if not query.selects(dossier):
            continue
        groups = (total, by_agency[dossier.agency], by_procedure[dossier.procedure])
        if query.within(dossier.received_at):
            assert dossier.received_at is not None
            for figures in (*groups, by_period[period_of(dossier.received_at, query.period)]):
                figures.add_received(dossier)
        verdict = judge(dossier, legal_maximum(dossier.procedure))
        if verdict.end is not None and query.within(verdict.end):
            for figures in (*groups, by_period[period_of(verdict.end, query.period)]):
                figures.add_finished(verdict)
    offered: frozenset[str] | None = None
    if offer is not None:
        offered = offer.of_agency(query.agency) if query.agency is not None else offer.online
        if query.procedure is not None:
            offered = offered & {query.procedure}
    return {
        "period": query.period,
        "from": None if query.start is None else query.start.isoformat(),
        "to": None if query.end is None else query.end.isoformat(),
        "procedure": query.procedure,
        "agency": query.agency,
        "total": total.as_dict(offered),
        "periods": [{"period": name, **by_period[name].as_dict(offered)} for name in sorted(by_period)],
        "agencies": [
            {
                "agency": name,
                **by_agency[name].as_dict(
                    None if offer is None else _narrow(offer.of_agency(name), query.procedure)
                ),
            }
            for name in sorted(by_agency)
        ],
        "procedures": [{"procedure": name, **by_procedure[name].as_dict()} for name in sorted(by_procedure)],
    }


def _narrow(offered: frozenset[str], procedure: str | None) -> frozenset[str]:
    return offered if procedure is None else offered & {procedure}


def period_bounds(instant: datetime, period: Period) -> tuple[datetime, datetime]:
    """The start (inclusive) and end (exclusive) of the month or quarter holding ``instant``."""
    local = instant.astimezone(PORTAL_TZ)
    first_month = local.month if period == "month" else (local.month - 1) // 3 * 3 + 1
    start = datetime(local.year, first_month, 1, tzinfo=PORTAL_TZ)
    months = 1 if period == "month" else 3
    year, month = divmod(first_month - 1 + months, 12)
    return start, datetime(local.year + year, month + 1, 1, tzinfo=PORTAL_TZ)
