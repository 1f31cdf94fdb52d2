"""The figures of the operator console: what it shows, gathered from the bus, the Prometheus
registry and the optional parts (audit log, portal sync, evidence providers)."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from router.audit import AuditLog, StoredAccessRecord
from router.bus import Bus, SubscriptionStatus
from router.directory import System
from router.ports import DeadLetter, DeadLetterQuery

log = logging.getLogger("lienthong.console")

Scalar = str | int | float | bool | None
StatusRows = Sequence[Mapping[str, Scalar]]
# A part's status as rows of a table (one row per provider, or one row of figures); the keys of
# the first row are the columns. Raising shows the section as unavailable, not the page as broken.
StatusSource = Callable[[], Awaitable[StatusRows]]
# The audit log as it is now: the runtime may open it after the console was built.
AuditSource = Callable[[], AuditLog | None]

RATE_WINDOW_S = 60.0
DEAD_LETTERS_SHOWN = 20
AUDIT_ENTRIES_SHOWN = 20


@dataclass(frozen=True, slots=True)
class TypeFigures:
    type: str
    received: int
    rejected: int
    per_minute: float | None  # None until two samples are a second apart


@dataclass(frozen=True, slots=True)
class SubscriptionFigures:
    status: SubscriptionStatus
    delivered: int
    dead_lettered: int
    failed_attempts: int  # sink calls that did not succeed (retried, refused, or circuit open)


@dataclass(frozen=True, slots=True)
class Section:
    """An optional part: ``rows`` when it answered, ``error`` when it failed, neither when absent."""

    configured: bool
    rows: StatusRows = ()
    error: str = ""


@dataclass(frozen=True, slots=True)
class AuditSection:
    configured: bool
    records: Sequence[StoredAccessRecord] = ()
    error: str = ""


@dataclass(frozen=True, slots=True)
class Figures:
    at: float
    types: Sequence[TypeFigures]
    subscriptions: Sequence[SubscriptionFigures]
    dead_letters: Sequence[DeadLetter]
    portal: Section
    evidence: Section
    audit: AuditSection
    # the portal sync's unusual status moves; configured: a held dossier can be released here
    portal_moves: Section = Section(configured=False)


def counter_totals(registry: CollectorRegistry, name: str, *labels: str) -> dict[tuple[str, ...], int]:
    """A counter's values summed over every label but ``labels``."""
    totals: dict[tuple[str, ...], int] = {}
    for metric in registry.collect():
        if metric.name != name:
            continue
        for sample in metric.samples:
            if sample.name != f"{name}_total":
                continue
            key = tuple(sample.labels.get(label, "") for label in labels)
            totals[key] = totals.get(key, 0) + int(sample.value)
    return totals


class RateWindow:
    """Events per minute from the totals seen over the last minute, per key."""

    def __init__(self, window_s: float = RATE_WINDOW_S) -> None:
        self._window_s = window_s
        self._samples: deque[tuple[float, Mapping[str, int]]] = deque()

    def add(self, now: float, totals: Mapping[str, int]) -> dict[str, float | None]:
        # Keep the newest sample older than the window as the base: the rate then spans a minute.
        while len(self._samples) > 1 and now - self._samples[1][0] >= self._window_s:
            self._samples.popleft()
        base = self._samples[0] if self._samples else None
        self._samples.append((now, dict(totals)))
        if base is None or now - base[0] < 1.0:
            return dict.fromkeys(totals)
        elapsed = now - base[0]
        return {key: (value - base[1].get(key, 0)) * 60.0 / elapsed for key, value in totals.items()}


class FigureSources:
    """Where the console's figures come from; an optional part left None shows "not configured"
    (a bus without an audit log, a portal connector or data providers)."""

    def __init__(
        self,
        bus: Bus,
        metrics: CollectorRegistry,
        *,
        audit: AuditSource | None = None,
        portal: StatusSource | None = None,
        evidence: StatusSource | None = None,
        portal_moves: StatusSource | None = None,
    ) -> None:
        self.bus = bus
        self.metrics = metrics
        self.audit = audit
        self.portal = portal
        self.evidence = evidence
        self.portal_moves = portal_moves
        self._rates = RateWindow()

    async def gather(self, operator: System) -> Figures:
        statuses = await self.bus.subscriptions(operator)
        letters: list[DeadLetter] = []
        for status in statuses:
            letters += await self.bus.dead_letters(
                operator, status.name, DeadLetterQuery(limit=DEAD_LETTERS_SHOWN)
            )
        letters.sort(key=lambda letter: letter.failed_at_ms, reverse=True)
        return Figures(
            at=time.time(),
            types=self._types(),
            subscriptions=self._subscriptions(statuses),
            dead_letters=letters[:DEAD_LETTERS_SHOWN],
            portal=await _section(self.portal, "portal sync"),
            evidence=await _section(self.evidence, "evidence providers"),
            audit=await self._audit(),
            portal_moves=await _section(self.portal_moves, "portal sync's unusual moves"),
        )

    def _types(self) -> list[TypeFigures]:
        received = counter_totals(self.metrics, "lienthong_events_received", "type")
        rejected = counter_totals(self.metrics, "lienthong_events_rejected", "type")
        names = {t.name for t in self.bus.event_types()} | {k[0] for k in (*received, *rejected)}
        rates = self._rates.add(time.monotonic(), {name: received.get((name,), 0) for name in names})
        return [
            TypeFigures(name, received.get((name,), 0), rejected.get((name,), 0), rates.get(name))
            for name in sorted(names)
        ]

    def _subscriptions(self, statuses: Sequence[SubscriptionStatus]) -> list[SubscriptionFigures]:
        outcomes = counter_totals(self.metrics, "lienthong_deliveries", "subscription", "outcome")
        attempts = counter_totals(self.metrics, "lienthong_delivery_attempts", "subscription", "result")
        return [
            SubscriptionFigures(
                status,
                outcomes.get((status.name, "delivered"), 0),
                outcomes.get((status.name, "dead_lettered"), 0),
                sum(n for (name, result), n in attempts.items() if name == status.name and result != "ok"),
            )
            for status in statuses
        ]

    async def _audit(self) -> AuditSection:
        audit = self.audit() if self.audit is not None else None
        if audit is None:
            return AuditSection(configured=False)
        try:
            return AuditSection(configured=True, records=await audit.latest(AUDIT_ENTRIES_SHOWN))
        except Exception as error:  # the console shows the failure; the audit log's own alerts fire
            log.warning("the console could not read the audit log", exc_info=True)
            return AuditSection(configured=True, error=type(error).__name__)


async def _section(source: StatusSource | None, what: str) -> Section:
    if source is None:
        return Section(configured=False)
    try:
        return Section(configured=True, rows=await source())
    except Exception as error:  # one failing part must not take the console down
        log.warning("the console could not read the %s status", what, exc_info=True)
        return Section(configured=True, error=type(error).__name__)
