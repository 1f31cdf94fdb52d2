"""How many distinct subjects (people, enterprises) each caller read over a sliding window: a key
that reads many different citizens' records is a leaked key or a scraper, whatever its policy
grants. The count goes to a gauge an alert watches (deploy/prometheus/alerts.yml).

Subjects are held as short digests, never as identifiers: the watch is not a list of who was read.
No I/O here; the clock is passed in.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from router.audit import AccessRecord

RELEASED = "released"


def _digest(subject: str) -> bytes:
    return hashlib.blake2b(subject.encode(), digest_size=8).digest()


class DistinctSubjects:
    """Per caller, the subjects read within the last ``window_s()`` seconds (a function, so that a
    reload reaches it). At most ``max_per_caller`` subjects are kept per caller: a count at that
    bound means "at least"."""

    def __init__(
        self,
        window_s: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
        max_per_caller: int = 100_000,
    ) -> None:
        self._window_s = window_s
        self._clock = clock
        self._max = max_per_caller
        self._seen: dict[str, OrderedDict[bytes, float]] = {}

    def saw(self, caller: str, subject: str) -> None:
        now = self._clock()
        seen = self._seen.setdefault(caller, OrderedDict())
        digest = _digest(subject)
        seen.pop(digest, None)
        seen[digest] = now  # the newest last: expired ones are at the front
        self._expire(seen, now)
        while len(seen) > self._max:
            seen.popitem(last=False)

    def saw_records(self, records: Sequence[AccessRecord]) -> None:
        """Notes the released reads of personal data among audit records just written."""
        for record in records:
            if record.subject and record.outcome == RELEASED:
                self.saw(record.requester, record.subject)

    def counts(self) -> dict[str, int]:
        """The number of distinct subjects each caller read in the window (callers with none left out)."""
        now = self._clock()
        for caller in list(self._seen):
            seen = self._seen[caller]
            self._expire(seen, now)
            if not seen:
                del self._seen[caller]
        return {caller: len(seen) for caller, seen in self._seen.items()}

    def _expire(self, seen: OrderedDict[bytes, float], now: float) -> None:
        oldest = now - self._window_s()
        while seen:
            first = next(iter(seen.values()))
            if first >= oldest:
                break
            seen.popitem(last=False)
