"""Refused reads of a citizen's access report, aggregated: a caller refused again and again for
the same subject must not flood that citizen's report with one line per attempt.

The first refusal of a (caller, subject, reason) is recorded at once, so the citizen sees it; the
refusals that follow within the window are counted, not recorded; the first refusal after the
window is recorded standing for itself and those counted since the previous record. A flood thus
writes one record per window, with its count. No I/O here; the clock is passed in.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("lienthong.audit")


@dataclass(slots=True)
class _Window:
    opened: float
    counted: int  # refusals since the record that opened it, not recorded


class RefusalWindows:
    """``window_s()`` is read at each refusal, so that a reload reaches it. At most ``max_keys``
    windows are kept: past that, closed windows go first, then the oldest (its count is logged,
    without the subject, rather than recorded)."""

    def __init__(
        self,
        window_s: Callable[[], float],
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self._window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._open: dict[tuple[str, bytes, str], _Window] = {}

    def admit(self, caller: str, subject: str, reason: str) -> int:
        """How many refusals a record written now stands for (this one and those counted since the
        last record), or 0 when this one is counted into the open window and nothing is written."""
        now = self._clock()
        key = (caller, hashlib.blake2b(subject.encode(), digest_size=8).digest(), reason)
        window = self._open.get(key)
        if window is not None and now - window.opened < self._window_s():
            window.counted += 1
            return 0
        stands_for = 1 + (window.counted if window is not None else 0)
        self._open.pop(key, None)
        self._open[key] = _Window(now, 0)
        if len(self._open) > self._max_keys:
            self._evict(now)
        return stands_for

    def _evict(self, now: float) -> None:
        window_s = self._window_s()
        for key in [k for k, w in self._open.items() if now - w.opened >= window_s and not w.counted]:
            del self._open[key]
        while len(self._open) > self._max_keys:
            (caller, _, reason), dropped = next(iter(self._open.items()))
            del self._open[next(iter(self._open))]
            if dropped.counted:
                log.warning(
                    "%d refused access-log reads by %s (%s) not recorded: too many open windows",
                    dropped.counted,
                    caller,
                    reason,
                )
