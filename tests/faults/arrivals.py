"""What a receiver that does not deduplicate makes of a stream: every arrival counts, in the order
it came. Lost events, duplicates, and arrivals that go backwards on their subject (a sequence
lower than one the subject already had: a receiver applying them in turn moves a dossier back)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.support.events import sequence_of


@dataclass(frozen=True)
class Arrivals:
    events: int  # arrivals, duplicates included
    lost: frozenset[str]  # acknowledged ids that never arrived
    duplicates: int  # arrivals of an id that had arrived before
    backwards: int  # arrivals below the highest sequence their subject had had
    subjects_backwards: int  # subjects with at least one backwards arrival

    def summary(self) -> str:
        return (
            f"{self.events} arrivals: {len(self.lost)} lost, {self.duplicates} duplicates, "
            f"{self.backwards} backwards on {self.subjects_backwards} subjects"
        )


def count_arrivals(arrived: Iterable[dict[str, Any]], acknowledged: set[str]) -> Arrivals:
    """Counts ``arrived`` (structured events in arrival order) against what was acknowledged."""
    seen: set[str] = set()
    highest: dict[str, int] = {}
    events = duplicates = backwards = 0
    subjects_backwards: set[str] = set()
    for event in arrived:
        events += 1
        if event["id"] in seen:
            duplicates += 1
        seen.add(event["id"])
        subject, sequence = sequence_of(event)
        if sequence < highest.get(subject, -1):
            backwards += 1
            subjects_backwards.add(subject)
        highest[subject] = max(sequence, highest.get(subject, -1))
    return Arrivals(events, frozenset(acknowledged - seen), duplicates, backwards, len(subjects_backwards))
