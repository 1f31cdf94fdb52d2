"""Making the portal hold what the bus knows of each dossier: the per-event logic and the
reconciliation, shared by the sink and ``lienthong portal reconcile``.

One event at a time per dossier (the delivery keeps a dossier's events in order; a lock per
dossier keeps reconciliation from interleaving with them):

1. an event already applied (by id) makes no call;
2. the event turns the dossier's known record into the new one; a status move the status
   machine's table does not list is *unusual*: under ``status_policy: forward`` it is sent as real
   clients send it, counted and listed; under ``strict`` it is *held* unless an operator accepted
   it (``lienthong portal release``): counted, and raised as a non-retryable :class:`Held` so the
   delivery dead-letters it with the reason (and, with ``on_dead_letter: hold_subject``, holds
   the dossier's later events). A code that is not a status is held under both;
3. the new record is saved as what the portal should hold; if the portal already acknowledged
   exactly it, there is no call;
4. otherwise the portal is brought up to it: ``TraCuuHoSo`` unless the portal is known to have
   the dossier, then ``DongBoHoSoMC`` create or update ("already exists" on create is answered by
   an update; a refused update of a dossier the portal lacks by a create); progress goes by
   ``CapNhatTienDoHoSoMC``. How the calls go on the wire (the portal's own envelope or a
   provincial bridge's) is the client's envelope; this module does not depend on it.

Several processes may share the state (``state.postgres``), and ``lienthong portal reconcile``
may run beside ``serve``: the per-dossier lock holds in one process only, so every save is a
compare-and-set on the dossier's version (:class:`~adapters.state.portal.DossierConflict` when
another process saved it since it was read). An event whose save loses is decided again on the
fresh state (found applied, or applied to it); a reconciliation that loses skips the dossier for
the round. The portal is only ever sent a state that won its save (see :meth:`PortalSync._converge`).

A failure leaves the saved record pending: the retry (or the next reconciliation) recomputes the
same record and finds it not yet acknowledged, so every repeat is safe.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from adapters.state.portal import DossierConflict
from connectors.portal import mapping, protocol
from connectors.portal.metrics import PortalMetrics
from connectors.portal.session import PortalClient, PortalError, Reply
from connectors.portal.state import DossierState, SyncStateStore, digest
from connectors.portal.status_machine import Decision, StatusPolicy, decide, judge
from router.errors import ConfigError

log = logging.getLogger("lienthong.portal")

SUBMITTED = "dossier.submitted"
STATUS_CHANGED = "dossier.status.changed"
PROGRESS_UPDATED = "dossier.progress.updated"
RESULT_ISSUED = "dossier.result.issued"
EVIDENCE_COLLECTED = "dossier.evidence.collected"
EVENT_TYPES = (SUBMITTED, STATUS_CHANGED, PROGRESS_UPDATED, RESULT_ISSUED, EVIDENCE_COLLECTED)
# how many times an event is decided again on a fresh state when other processes keep saving
# the dossier meanwhile, before the delivery's retry takes over
CONFLICT_ATTEMPTS = 5


class Held(Exception):
    """An event the bus will not forward: ``reason`` is a label of the held-transitions metric."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"held ({reason}): {detail}")
        self.reason = reason
        self.detail = f"held ({reason}): {detail}"

    @staticmethod
    def reason_in(error: str) -> str | None:
        """The reason of a held event's dead letter, from its ``last_error`` (None: not held)."""
        if not error.startswith("held (") or ")" not in error:
            return None
        return error[len("held (") : error.index(")")]


@dataclass(frozen=True, slots=True)
class DossierEvent:
    id: str
    type: str
    dossier: str
    data: Mapping[str, Any]
    time: float  # when the event entered the bus, seconds since the epoch


@dataclass(frozen=True, slots=True)
class Drift:
    dossier: str
    kind: str  # missing (the portal lacks the dossier) or different
    fields: tuple[str, ...]
    repaired: bool
    error: str = ""


@dataclass
class ReconcileReport:
    checked: int = 0
    in_sync: int = 0
    skipped: int = 0  # saved by another process while being checked: checked again next round
    drifted: list[Drift] = field(default_factory=list)

    @property
    def repaired(self) -> int:
        return sum(d.repaired for d in self.drifted)

    @property
    def failed(self) -> int:
        return sum(not d.repaired for d in self.drifted)

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "in_sync": self.in_sync,
            "skipped": self.skipped,
            "drifted": len(self.drifted),
            "repaired": self.repaired,
            "failed": self.failed,
            "dossiers": [
                {
                    "dossier": d.dossier,
                    "kind": d.kind,
                    "fields": list(d.fields),
                    "repaired": d.repaired,
                    "error": d.error,
                }
                for d in self.drifted
            ],
        }

    def lines(self) -> list[str]:
        out = [
            f"checked {self.checked} dossier(s): {self.in_sync} in sync, {len(self.drifted)} drifted, "
            f"{self.repaired} repaired, {self.failed} failed"
            + (f", {self.skipped} skipped (saved by another process meanwhile)" if self.skipped else "")
        ]
        for d in self.drifted:
            what = "missing on the portal" if d.kind == "missing" else f"differs in {', '.join(d.fields)}"
            outcome = "repaired" if d.repaired else f"NOT repaired: {d.error}"
            out.append(f"  {d.dossier}: {what}; {outcome}")
        return out


class PortalSync:
    def __init__(
        self,
        client: PortalClient,
        store: SyncStateStore,
        metrics: PortalMetrics,
        *,
        body: mapping.BodyOptions = mapping.DEFAULT,
        status_policy: StatusPolicy = StatusPolicy.FORWARD,
    ) -> None:
        self.client = client
        self.store = store
        self.metrics = metrics
        # every text cut to its cap is counted, by field
        self.body = replace(
            body,
            on_truncate=lambda name: metrics.truncated.labels(name).inc(),
            on_unknown_database=lambda _: metrics.unknown_databases.inc(),
        )
        self.status_policy = status_policy
        self.pending: dict[str, float] = {}  # dossier -> since when the portal is behind
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def start(self) -> None:
        await self.store.open()
        self.pending = await self.store.unsynced()
        self.metrics.watch_unsynced(lambda: self.pending)

    def _lock(self, dossier: str) -> asyncio.Lock:
        lock = self._locks.get(dossier)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[dossier] = lock
        return lock

    # --- events --------------------------------------------------------------------------------

    async def apply(self, event: DossierEvent) -> None:
        """Brings the portal up to date with one event; raises :class:`Held` or PortalError."""
        async with self._lock(event.dossier):
            for _ in range(CONFLICT_ATTEMPTS):
                if await self._attempt(event):
                    return
            raise PortalError(
                f"dossier {event.dossier}: saved by other processes on every attempt; tried again later",
                retryable=True,
            )

    async def _attempt(self, event: DossierEvent) -> bool:
        """Applies the event to the dossier's state as read now; False when another process saved
        the dossier meanwhile (the event is then decided again on the fresh state)."""
        applied, state = await self.store.load(event.dossier, event.id)
        if applied:
            await self._record_step(event)  # a stop between the two writes leaves it out
            return True
        try:
            await self._apply(event, state)
        except DossierConflict:
            log.info(
                "%s: saved by another process meanwhile; event %s decided again", event.dossier, event.id
            )
            return False
        except Held as held:
            self.metrics.held.labels(held.reason).inc()
            log.warning("%s: %s event %s %s", event.dossier, event.type, event.id, held.detail)
            raise
        except (mapping.MappingError, KeyError, TypeError, ValueError) as error:
            self.metrics.held.labels("invalid_event").inc()
            raise Held("invalid_event", f"cannot map the event to the portal's fields: {error}") from None
        await self._record_step(event)
        return True

    async def _record_step(self, event: DossierEvent) -> None:
        """The status the event sent the portal, for the scorecard (:mod:`router.scorecard`)."""
        step = step_of(event)
        if step is not None:
            await self.store.add_step(event.id, event.dossier, *step)

    async def _apply(self, event: DossierEvent, state: DossierState | None) -> None:
        data = event.data
        agency = str(data.get("agencyCode") or (state.agency if state else ""))
        if state is None:
            state = DossierState(code=event.dossier, agency=agency, event_time=event.time)
        if event.type == EVIDENCE_COLLECTED:
            await self._evidence(state, event)
            return
        if event.type == PROGRESS_UPDATED:
            await self._progress(state, event)
            return
        if event.type == SUBMITTED:
            record = mapping.submitted_record(data, self.body)
            await self._check_move(state.status, int(record["TrangThaiHoSo"]), event)
            if state.record is not None and state.status == int(record["TrangThaiHoSo"]):
                record = mapping.resubmitted(state.record, record)  # keeps later fields
            record = self._with_evidence(record, state)
            state = replace(state, agency=agency, channel=data.get("channel") or state.channel)
        elif event.type in (STATUS_CHANGED, RESULT_ISSUED):
            state, base = await self._known(state, event)
            if event.type == STATUS_CHANGED:
                await self._check_move(state.status, int(data["status"]), event)
                record = mapping.apply_status(base, data, self.body)
                state = replace(state, return_method=data.get("returnMethod") or state.return_method)
            else:
                record = mapping.apply_result(base, data, self.body)
        else:
            log.warning("%s: event type %s is not synchronised to the portal", event.dossier, event.type)
            await self.store.mark_applied(event.id, event.dossier, time.time())
            return
        await self._converge(state.with_record(record, event.time), event)

    async def _check_move(self, current: int | None, new: int, event: DossierEvent) -> None:
        """Raises :class:`Held` for a move the policy holds; counts and lists an unusual one."""
        verdict = judge(current, new)
        decision = decide(verdict, self.status_policy)
        if (
            decision is Decision.HOLD
            and current is not None
            and await self.store.is_accepted(event.dossier, current, new)
        ):
            decision = decide(verdict, self.status_policy, accepted=True)
        if decision is Decision.HOLD:
            raise Held(verdict.value, f"status {current} -> {new} is not allowed (event {event.id})")
        if decision is Decision.UNUSUAL and current is not None:
            accepted = self.status_policy is StatusPolicy.STRICT
            if await self.store.note_unusual(event.id, event.dossier, current, new, accepted=accepted):
                self.metrics.unusual.labels(str(current), str(new)).inc()
                log.info(
                    "%s: unusual status move %s -> %s forwarded (event %s)",
                    event.dossier,
                    current,
                    new,
                    event.id,
                )

    async def _known(self, state: DossierState, event: DossierEvent) -> tuple[DossierState, dict[str, Any]]:
        """The dossier's record as the bus knows it, or as the portal has it when the bus never
        saw it submitted (a dossier older than the bus); held when neither knows it."""
        if state.record is not None:
            return state, state.record
        reply = await self._lookup(event.dossier)
        if reply is None:
            raise Held("unknown_dossier", "neither the bus nor the portal knows the dossier")
        status = reply.get("TrangThaiHoSo", 0)
        text = str(status)
        if not isinstance(status, int | str) or isinstance(status, bool) or not _is_status(text):
            # the portal's copy is garbled, not the event: said so, rather than "cannot map the event"
            raise PortalError(
                f"{protocol.LOOKUP}: the portal's TrangThaiHoSo {text[:40]!r} is not a status",
                retryable=False,
            )
        known = replace(state, record=reply, status=int(status) or None, synced_digest=digest(reply))
        return known, reply

    def _with_evidence(self, record: dict[str, Any], state: DossierState) -> dict[str, Any]:
        return mapping.apply_evidence(record, state.collected, self.body)

    async def _evidence(self, state: DossierState, event: DossierEvent) -> None:
        """What the evidence broker collected for the dossier (once-only): kept in the state, so
        a submission that arrives later carries it too, and put into the record."""
        found = mapping.collected_of(event.data.get("found") or ())
        collected = tuple(dict.fromkeys([*state.collected, *found]))
        state = replace(state, collected=collected)
        if state.record is None:
            # the submission has not reached the portal sync yet: remembered for its record
            await self.store.save(
                replace(state, event_time=max(state.event_time, event.time)), applied=event.id
            )
            return
        await self._converge(state.with_record(self._with_evidence(state.record, state), event.time), event)

    async def _progress(self, state: DossierState, event: DossierEvent) -> None:
        fields = mapping.progress_fields(event.data, self.body)
        if state.record is None:
            if await self._lookup(event.dossier) is None:
                raise Held("unknown_dossier", "progress for a dossier neither the bus nor the portal knows")
        elif not state.in_sync:
            state = await self._converge(state, None)  # the portal must have the dossier first
        reply = await self.client.call(protocol.PROGRESS, {"data": [fields]})
        if not reply.ok:
            lost = state.record is not None and await self._on_portal(event.dossier) is False
            if lost:  # the portal lost the dossier: the retry creates it again first
                await self.store.save(replace(state, synced_digest=None))
            raise PortalError(
                f"{protocol.PROGRESS} refused: error_code {reply.code}: {reply.message}",
                retryable=lost,
                code=reply.code,
            )
        await self.store.mark_applied(event.id, event.dossier, time.time())
        self.metrics.lag.observe(max(0.0, time.time() - event.time))

    # --- the portal ----------------------------------------------------------------------------

    async def _converge(self, state: DossierState, event: DossierEvent | None) -> DossierState:
        """Makes the portal hold ``state``'s record and saves the state (with the event as
        applied); a failed call leaves the state saved as pending and raises. Raises
        :class:`DossierConflict`, with nothing sent, when ``state`` is stale (another process
        saved the dossier since it was read)."""
        record = state.record
        assert record is not None
        applied = None if event is None else event.id
        if state.in_sync:
            saved = await self.store.save(state, applied=applied)
            self._settled(state.code)
            return saved
        # Saved first, pushed after: a process whose copy is stale loses this compare-and-set
        # and sends nothing, so the portal is only sent states that were the store's newest when
        # saved. What the portal should hold is then known even if the call fails (the unsynced
        # gauge, reconciliation and the retry all start from it).
        claimed = await self.store.save(state)
        self.pending.setdefault(state.code, state.pending_since or time.time())
        await self._push(record, known_on_portal=state.synced_digest is not None)
        try:
            synced = await self.store.save(
                replace(claimed, synced_digest=digest(record), pending_since=None), applied=applied
            )
        except DossierConflict:
            # another process saved a newer state (descended from ``claimed``) while the call
            # was in flight: its push and this one may reach the portal in either order
            return await self._superseded(claimed, applied)
        self._settled(state.code)
        if event is not None:
            self.metrics.lag.observe(max(0.0, time.time() - event.time))
        return synced

    async def _superseded(self, claimed: DossierState, applied: str | None) -> DossierState:
        """After a push whose acknowledgement lost its save: the event's effect is in the newer
        state (every save after ``claimed`` descends from it), so the event is applied; the
        portal may hold this process's older record, so the newer one is pushed again."""
        if applied is not None:
            await self.store.mark_applied(applied, claimed.code, time.time())
        fresh = await self.store.get(claimed.code)
        if fresh is None or fresh.record is None:
            return claimed
        return await self._converge(replace(fresh, synced_digest="superseded"), None)

    def _settled(self, dossier: str) -> None:
        self.pending.pop(dossier, None)

    async def _lookup(self, dossier: str) -> dict[str, Any] | None:
        """The portal's copy of the dossier: the first item of ``TraCuuHoSo``'s ``result``. The
        portal has the dossier iff ``result`` is a non-empty array with a success code ("not
        found" is an empty ``result``, not an error code). None too when the envelope offers no
        lookup (a bridge without one): the bus then knows only what it sent."""
        if not self.client.can_look_up:
            return None
        reply = await self.client.call(protocol.LOOKUP, {protocol.LOOKUP_KEY: dossier})
        if not reply.ok:
            raise PortalError(
                f"{protocol.LOOKUP} refused: error_code {reply.code}: {reply.message}",
                retryable=False,
                code=reply.code,
            )
        result = reply.result
        if result is None or result == []:
            return None
        if not isinstance(result, list):
            self.metrics.call(protocol.LOOKUP, "malformed")
            raise PortalError(f"{protocol.LOOKUP}: the reply's result is not an array", retryable=True)
        if not isinstance(result[0], dict):
            self.metrics.call(protocol.LOOKUP, "malformed")
            raise PortalError(
                f"{protocol.LOOKUP}: the dossier in the result is not an object", retryable=True
            )
        return result[0]

    async def _on_portal(self, dossier: str) -> bool | None:
        """Whether the portal has the dossier; None when the envelope offers no lookup."""
        if not self.client.can_look_up:
            return None
        return await self._lookup(dossier) is not None

    async def _push(self, record: dict[str, Any], *, known_on_portal: bool) -> None:
        """Creates or updates the dossier. A create answered "already exists" is repeated as an
        update; a refused update whose dossier the portal turns out to lack, as a create. Without
        a lookup (a bridge that offers none) an unknown dossier is created first."""
        dossier = record["MaHoSo"]
        exists = known_on_portal or bool(await self._on_portal(dossier))
        reply = await self._sync(record, updating=exists)
        if not exists and reply.outcome == "already_exists":
            reply = await self._sync(record, updating=True)
        elif exists and not reply.ok and await self._on_portal(dossier) is False:
            reply = await self._sync(record, updating=False)  # the portal lost it (or never had it)
        if not reply.ok:
            raise PortalError(
                f"{protocol.SYNC} refused: error_code {reply.code}: {reply.message}",
                retryable=reply.outcome == "already_exists",  # a race: look up again
                code=reply.code,
            )

    async def _sync(self, record: dict[str, Any], *, updating: bool) -> Reply:
        return await self.client.call(
            protocol.SYNC,
            {protocol.UPDATING_KEY: protocol.TRUE if updating else protocol.FALSE, "data": [record]},
        )

    # --- reconciliation ------------------------------------------------------------------------

    async def reconcile(self, *, since: float | None = None, concurrency: int = 8) -> ReconcileReport:
        """Compares every dossier the bus knows (whose latest event is at or after ``since``)
        with the portal's ``TraCuuHoSo``, re-syncs the drift and reports."""
        if not self.client.can_look_up:
            raise ConfigError(
                "reconciliation compares with the portal's TraCuuHoSo: the bridge envelope needs "
                "bridge.lookup_url for it"
            )
        report = ReconcileReport()
        slots = asyncio.Semaphore(concurrency)
        after = ""
        while True:
            page = await self.store.states(since=since, after=after)
            if not page:
                break
            after = page[-1].code

            async def check(state: DossierState) -> None:
                async with slots:
                    await self._reconcile_one(state.code, report)

            await asyncio.gather(*(check(state) for state in page))
        return report

    async def _reconcile_one(self, dossier: str, report: ReconcileReport) -> None:
        async with self._lock(dossier):
            state = await self.store.get(dossier)  # read again under the lock: events move on
            if state is None or state.record is None:
                return
            report.checked += 1
            try:
                portal = await self._lookup(dossier)
            except PortalError as error:
                report.drifted.append(Drift(dossier, "unknown", (), False, error.detail))
                self.metrics.reconciled.labels("failed").inc()
                return
            differing = _differences(state.record, portal)
            if not differing:
                report.in_sync += 1
                self.metrics.reconciled.labels("in_sync").inc()
                if not state.in_sync:  # acknowledged after all (the reply of the call was lost)
                    try:
                        await self.store.save(
                            replace(state, synced_digest=digest(state.record), pending_since=None)
                        )
                    except DossierConflict:
                        self._skip(dossier, report)
                        return
                    self._settled(dossier)
                return
            kind = "missing" if portal is None else "different"
            log.warning(
                "%s: the portal's copy drifted (%s: %s); re-syncing", dossier, kind, ", ".join(differing)
            )
            try:
                await self._converge(
                    replace(state, synced_digest=None if portal is None else "drifted"), None
                )
            except DossierConflict:  # an event moved the dossier on meanwhile: nothing was sent
                self._skip(dossier, report)
                return
            except PortalError as error:
                report.drifted.append(Drift(dossier, kind, differing, False, error.detail))
                self.metrics.reconciled.labels("failed").inc()
                return
            report.drifted.append(Drift(dossier, kind, differing, True))
            self.metrics.reconciled.labels("repaired").inc()

    def _skip(self, dossier: str, report: ReconcileReport) -> None:
        """The dossier was saved by another process while being checked: what this round read
        of it is stale, so it is left to the next round."""
        report.skipped += 1
        self.metrics.reconciled.labels("skipped").inc()
        log.info("%s: saved by another process while reconciled; checked again next round", dossier)


def _is_status(text: str) -> bool:
    """A status code as the portal writes it: a few ASCII digits."""
    return text.isascii() and text.isdigit() and len(text) <= 4


def _differences(expected: Mapping[str, Any], portal: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The fields the bus owns whose value on the portal differs (all of them if it is missing).
    An empty value the bus sent ("" or []) and a field the portal's copy leaves out are the same."""
    if portal is None:
        return tuple(sorted(expected))
    return tuple(
        sorted(
            name
            for name, value in expected.items()
            if portal.get(name) != value and not (name not in portal and value in ("", []))
        )
    )


# the key of the time each event's status took effect, for the scorecard's history
_STEP_TIME = {SUBMITTED: "receivedAt", STATUS_CHANGED: "changedAt", PROGRESS_UPDATED: "handledAt"}


def step_of(event: DossierEvent) -> tuple[int, str] | None:
    """The status an event sent the portal, and when (yyyyMMddHHmmss); None for other events."""
    key = _STEP_TIME.get(event.type)
    if key is None:
        return None
    data = event.data
    when = data.get(key) or (data.get("submittedAt") if event.type == SUBMITTED else None)
    try:
        status = int(data.get("status", 1) if event.type == SUBMITTED else data["status"])
        return status, mapping.portal_date(str(when))
    except (KeyError, TypeError, ValueError):
        return None
