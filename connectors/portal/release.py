"""An operator's release of a dossier the portal sync holds (``lienthong portal release``, ``POST
/v1/portal/dossiers/{code}/release``, the console).

A dossier is held when its events wait among the dead letters of a subscription delivering to the
portal connector: under ``status_policy: strict`` a status move the table does not list is
dead-lettered, and with ``on_dead_letter: hold_subject`` every later event of the dossier waits
behind it. Replaying alone would be refused again. A release, in this order:

1. reads the dossier's waiting letters, oldest first, and walks their status moves from the
   status the portal sync knows; every move the table does not list is *accepted* for this
   dossier (a code that is not a status, or an event that cannot be mapped, is never accepted:
   such a dossier is not releasable, its letter is purged instead);
2. records the release in the audit log (``admin.portal.release``: the system, the official, the
   dossier, the reason, the moves and the letters), before anything is done: no record, no release;
3. saves the accepted moves in the sync state, so the status check lets them through;
4. replays the letters (each round audited as ``admin.replay``): the first copy lifts the hold in
   queue order (router.delivery), so the dossier's events reach the portal in their order.
"""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from connectors.portal.connector import PortalConnector, read_event
from connectors.portal.status_machine import Verdict, is_held, judge
from connectors.portal.sync import STATUS_CHANGED, SUBMITTED, Held
from router.bus import MAX_PAGE, MAX_REPLAY, Bus, ReplayRequest
from router.directory import System
from router.errors import FieldError, Forbidden, InvalidRequest, LienthongError, NotFound
from router.ports import DeadLetter, DeadLetterQuery

log = logging.getLogger("lienthong.portal")

ACTION = "portal.release"
MAX_REASON = 500  # characters: a sentence or two, kept whole in the audit record
MAX_DOSSIER = 128  # characters of a dossier code (real ones are under 40)
# the held reasons no release turns into a move the portal can take
NEVER_ACCEPTED = frozenset({Verdict.UNKNOWN_STATUS.value, "invalid_event"})


class DossierNotHeld(LienthongError):
    """The dossier has no event waiting among the portal sync's dead letters: there is nothing to
    release (its events already flow)."""

    code = "dossier_not_held"
    status = 409
    title = "The dossier is not held"


class DossierNotReleasable(LienthongError):
    """An event the dossier waits behind carries what no release accepts (a status code that is
    not 1-10, or data that cannot be mapped to the portal's fields): purge that dead letter, then release."""

    code = "dossier_not_releasable"
    status = 409
    title = "The dossier cannot be released"


class DossierUnknown(NotFound):
    """Neither the portal sync nor its dead letters know the dossier."""

    code = "dossier_not_found"
    title = "No such dossier"


@dataclass(frozen=True, slots=True)
class Release:
    """What a release did: the moves it accepted and the letters it put back, per subscription."""

    connector: str
    dossier: str
    accepted: tuple[tuple[int, int], ...]
    replayed: dict[str, tuple[int, ...]]

    def as_dict(self) -> dict[str, object]:
        return {
            "connector": self.connector,
            "dossier": self.dossier,
            "accepted_moves": [{"from": old, "to": new} for old, new in self.accepted],
            "replayed": {name: list(ids) for name, ids in self.replayed.items()},
        }


def checked_reason(reason: str) -> str:
    """The reason as recorded: one line of 1 to MAX_REASON characters (InvalidRequest otherwise)."""
    text = reason.strip()
    if not text:
        raise InvalidRequest("say why the dossier is released", (FieldError("/reason", "required"),))
    if len(text) > MAX_REASON:
        raise InvalidRequest(
            "the reason is too long", (FieldError("/reason", f"at most {MAX_REASON} characters"),)
        )
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in text):
        raise InvalidRequest(
            "the reason must be one line of text", (FieldError("/reason", "no control characters"),)
        )
    return text


def checked_dossier(dossier: str) -> str:
    if not dossier or len(dossier) > MAX_DOSSIER or not dossier.isprintable():
        raise InvalidRequest(
            "not a dossier code",
            (FieldError("/dossier", f"1 to {MAX_DOSSIER} printable characters"),),
        )
    return dossier


def delivering_to(bus: Bus, connector: str) -> list[str]:
    """The subscriptions whose sink is the connector ``connector``."""
    return [
        s.name
        for s in bus.generation.subscriptions.values()
        if s.sink.kind == "connector" and s.sink.options.get("name") == connector
    ]


async def waiting_letters(bus: Bus, caller: System, subscription: str, dossier: str) -> list[DeadLetter]:
    """The dossier's letters not yet replayed, oldest first (at most MAX_REPLAY)."""
    letters: list[DeadLetter] = []
    after = 0
    while len(letters) < MAX_REPLAY:
        page = await bus.dead_letters(
            caller, subscription, DeadLetterQuery(subject=dossier, after_id=after, limit=MAX_PAGE)
        )
        letters += page
        if len(page) < MAX_PAGE:
            break
        after = page[-1].id
    return letters[:MAX_REPLAY]


def moves_to_accept(current: int | None, letters: Sequence[DeadLetter]) -> tuple[tuple[int, int], ...]:
    """The moves the table does not list that ``letters`` (oldest first) make from ``current``;
    raises DossierNotReleasable for a letter no release can let through."""
    accepted: list[tuple[int, int]] = []
    for letter in letters:
        if Held.reason_in(letter.last_error) in NEVER_ACCEPTED:
            raise DossierNotReleasable(
                f"dead letter {letter.id} ({letter.event_id}) is refused whatever the policy "
                f"({letter.last_error[:200]}): purge it, then release the dossier"
            )
        new = _status_of(letter)
        if new is None:
            continue
        verdict = judge(current, new)
        if verdict is Verdict.UNKNOWN_STATUS:
            raise DossierNotReleasable(
                f"dead letter {letter.id} ({letter.event_id}) carries status {new}, which is not a "
                "status code 1-10: purge it, then release the dossier"
            )
        if is_held(verdict) and current is not None and (current, new) not in accepted:
            accepted.append((current, new))
        current = new
    return tuple(accepted)


def _status_of(letter: DeadLetter) -> int | None:
    """The status an event moves its dossier to (None: an event without one, or unreadable)."""
    try:
        event = read_event(letter.message)
        if event.type == SUBMITTED:
            return int(event.data.get("status", 1))
        if event.type == STATUS_CHANGED:
            return int(event.data["status"])
    except (Held, KeyError, TypeError, ValueError):
        return None
    return None


async def release(
    bus: Bus,
    caller: System,
    connector: PortalConnector,
    dossier: str,
    reason: str,
    *,
    official: str = "",
    official_basis: str = "",
) -> Release:
    """Releases a held dossier (see the module doc); raises Forbidden (no admin grant),
    InvalidRequest (reason, dossier code), DossierUnknown, DossierNotHeld, DossierNotReleasable,
    AuditUnavailable (nothing done)."""
    if not bus.is_admin(caller.id):
        raise Forbidden(f"'{caller.id}' may not release dossiers: it needs the admin grant")
    dossier = checked_dossier(dossier)
    reason = checked_reason(reason)
    waiting: dict[str, list[DeadLetter]] = {}
    for name in delivering_to(bus, connector.name):
        letters = await waiting_letters(bus, caller, name, dossier)
        if letters:
            waiting[name] = letters
    state = await connector.sync.store.get(dossier)
    if not waiting:
        if state is None:
            raise DossierUnknown(f"the portal sync {connector.name!r} knows no dossier {dossier!r}")
        raise DossierNotHeld(
            f"dossier {dossier!r} has no event waiting among the dead letters of the portal sync "
            f"{connector.name!r}"
        )
    ordered = sorted((letter for letters in waiting.values() for letter in letters), key=lambda d: d.id)
    accepted = moves_to_accept(None if state is None else state.status, ordered)
    moves = ", ".join(f"{old}->{new}" for old, new in accepted) or "none"
    ids = ",".join(str(letter.id) for letter in ordered[:50])
    more = f" (+{len(ordered) - 50} more)" if len(ordered) > 50 else ""
    await bus.admin_action(
        caller,
        ACTION,
        "done",
        f"connector {connector.name}: dossier {dossier}: moves accepted {moves}; "
        f"{len(ordered)} dead letter(s) replayed: ids {ids}{more}; reason: {reason}",
        official=official,
        official_basis=official_basis,
        dossier=dossier,
    )
    if accepted:
        await connector.sync.store.accept_moves(
            dossier, accepted, official=official or caller.id, reason=reason
        )
    replayed: dict[str, tuple[int, ...]] = {}
    for name, letters in waiting.items():
        replayed[name] = await _replay(bus, caller, name, dossier, len(letters), official)
    connector.metrics.releases.inc()
    log.warning(
        "%s: dossier %s released by %s (%s): moves accepted %s; reason: %s",
        connector.name,
        dossier,
        caller.id,
        official or "no official named",
        moves,
        reason,
    )
    return Release(connector.name, dossier, accepted, replayed)


async def _replay(
    bus: Bus, caller: System, subscription: str, dossier: str, waiting: int, official: str
) -> tuple[int, ...]:
    """Replays the dossier's letters, at most ``waiting`` of them: a copy refused again is a new
    letter, which this release must not replay in a loop."""
    ids: list[int] = []
    while len(ids) < waiting:
        done = await bus.replay_round(
            caller, subscription, ReplayRequest(subject=dossier), limit=waiting - len(ids), official=official
        )
        ids += [letter.id for letter in done.letters]
        if not done.letters or not done.more:
            break
    return tuple(ids)
