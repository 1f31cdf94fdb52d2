"""Kafka client logs, rate-limited: one line per condition, then a count.

While a broker is away every aiokafka client retries in a tight loop (each connection attempt,
metadata refresh, heartbeat and fetch logs its failure): a bus logs tens of thousands of lines a
second, and operators lose the signal while disks fill. A condition is a logger and the template
of a warning or error (``"Unable connect to node with id %s: %s"`` of ``aiokafka``), whatever its
arguments (a node, an error text), or the exact text of an info line (``Discovered coordinator 1
for group router``: each group's state changes are told apart, their repeats are not).

The first record of a condition goes through; warnings and errors go through as warnings: aiokafka
retries these by itself, and the bus reports at error level what it could not do (a refused
publish, a batch it must retry). The records of the same condition in the following
``window_s`` are counted, not written; the first one after the window goes through with that
count, and opens a new window. A condition that does not come back (a broker away for 10 s) still
has its count told: :meth:`RateLimit.flush`, called periodically by the transport and at its
close, writes one line per condition whose window has passed with records held back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

WINDOW_S = 30.0
# More distinct conditions than aiokafka has templates: only a logger formatting its messages
# itself (no template) could get there; the oldest are then forgotten.
MAX_CONDITIONS = 1000
# Set on the count lines that :meth:`RateLimit.flush` writes, which the filter lets through.
SUMMARY_ATTRIBUTE = "lienthong_rate_limit_summary"


@dataclass(slots=True)
class _Condition:
    since: float  # when the record that went through was logged
    suppressed: int = 0


class RateLimit(logging.Filter):
    """Lets through one record per condition and ``window_s``, then one with the count."""

    def __init__(self, window_s: float = WINDOW_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._window_s = window_s
        self._clock = clock
        self._conditions: dict[tuple[str, str], _Condition] = {}
        self._lock = threading.Lock()  # logging may happen on any thread

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, SUMMARY_ATTRIBUTE, False):
            return True
        warning = record.levelno >= logging.WARNING
        key = (record.name, str(record.msg) if warning else _text(record))
        now = self._clock()
        with self._lock:
            condition = self._conditions.get(key)
            if condition is not None and now - condition.since < self._window_s:
                condition.suppressed += 1
                return False
            suppressed = condition.suppressed if condition is not None else 0
            elapsed = now - condition.since if condition is not None else 0.0
            if condition is None and len(self._conditions) >= MAX_CONDITIONS:
                del self._conditions[next(iter(self._conditions))]
            self._conditions[key] = _Condition(now)
        if warning:
            record.levelno, record.levelname = logging.WARNING, logging.getLevelName(logging.WARNING)
        if suppressed:
            record.msg = f"{record.msg} ({suppressed} more like this in the last {elapsed:.0f} s)"
        return True

    def flush(self) -> None:
        """Writes the count of each condition whose window has passed with records held back, on
        the condition's own logger, as one warning; the condition's next record then goes
        through without a count."""
        now = self._clock()
        due: list[tuple[str, str, int, float]] = []
        with self._lock:
            for (name, text), condition in self._conditions.items():
                if condition.suppressed and now - condition.since >= self._window_s:
                    due.append((name, text, condition.suppressed, now - condition.since))
                    condition.suppressed = 0
        for name, text, count, elapsed in due:
            logging.getLogger(name).warning(
                "%d more like this in the last %.0f s: %s",
                count,
                elapsed,
                text,
                extra={SUMMARY_ATTRIBUTE: True},
            )


def _text(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except (TypeError, ValueError):  # arguments that do not fit: the handler will report it
        return str(record.msg)


_shared = RateLimit()
# The Kafka adapter's own loggers: an append retrying logs once per call, and calls are many.
ADAPTER_LOGGERS = ("adapters.kafka.transport", "adapters.kafka.consumer")


def rate_limit_kafka_logs(limit: RateLimit = _shared) -> None:
    """Puts ``limit`` on aiokafka's loggers and the adapter's: on each module's logger, as a
    filter on a parent logger does not see the records of its children. Idempotent; called when a
    Kafka transport starts, once aiokafka's modules are imported."""
    names = ["aiokafka", *ADAPTER_LOGGERS]
    names += [name for name in list(logging.Logger.manager.loggerDict) if name.startswith("aiokafka.")]
    for name in names:
        logger = logging.getLogger(name)
        if limit not in logger.filters:
            logger.addFilter(limit)


def flush_kafka_logs(limit: RateLimit = _shared) -> None:
    """The counts held back by the Kafka logs' rate limit, written (see :meth:`RateLimit.flush`)."""
    limit.flush()
