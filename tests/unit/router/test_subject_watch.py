"""The distinct subjects each caller read over a sliding window, on an injected clock."""

from __future__ import annotations

from router.audit import AccessRecord
from router.subject_watch import DistinctSubjects


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def read(requester: str, subject: str, outcome: str = "released") -> AccessRecord:
    return AccessRecord("r", requester, "o", "citizen.identity", subject, "p", "", "", outcome)


def test_distinct_subjects_per_caller_over_the_window() -> None:
    clock = Clock()
    watch = DistinctSubjects(lambda: 60.0, clock)
    watch.saw_records([read("A/x", f"00109901234{n}") for n in range(5)])
    watch.saw_records([read("A/x", "001099012340"), read("B/y", "001099012340")])
    watch.saw_records([read("B/y", "001099012341", outcome="not_found"), read("B/y", "", "released")])
    assert watch.counts() == {"A/x": 5, "B/y": 1}
    clock.now = 30.0
    watch.saw_records([read("A/x", "001099012341")])  # read again: seen later, still one
    clock.now = 61.0
    assert watch.counts() == {"A/x": 1}  # the others left the window; B/y is gone


def test_the_watch_is_bounded_per_caller() -> None:
    watch = DistinctSubjects(lambda: 60.0, Clock(), max_per_caller=3)
    for n in range(10):
        watch.saw("A/x", f"00109901234{n}")
    assert watch.counts() == {"A/x": 3}
