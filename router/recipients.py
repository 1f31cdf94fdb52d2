"""Released personal data stays with its recipient.

The evidence broker releases records (a citizen's identity, residence, vehicles...) to the
system that submitted a dossier, and publishes them in one event whose extension attribute
``recipient`` names that system. Such an event is for its recipient alone: no other system's
delivery queue, sink or dead-letter listing may hold the records.

Two marks make an event one that carries released personal data:

- its type is declared so in its contract (``"released_personal_data": true`` in the type's
  ``type.json``; :meth:`schemas.registry.SchemaRegistry.released_types`): an event of such a
  type goes to the subscriptions of the system its ``recipient`` names, and to none when it
  names none;
- it names a ``recipient``, whatever its type: it is for that system only. This holds when a
  deployment's own contracts (``schemas.path``) leave the declaration out.

The bus applies the rule at every step: configuration loading refuses a subscription that
would receive a declared type without being restricted to its own system (:func:`excluded`
says whether its filters keep every other recipient's events out); the router enqueues an event
only for its recipient's subscriptions (:class:`RecipientOnly`); a delivery drops a message
addressed to another system instead of sending it (a queue filled by a version of the bus
without the rule, a replayed dead letter); a dead-letter listing shows no event data of a
letter addressed to another system (:func:`withheld`).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from enum import Enum
from typing import TypeVar

from router import tracing
from router.envelope import KAFKA_PREFIX, CloudEvent
from router.filters import All, Any_, Exact, Not, Prefix, Suffix
from router.ports import DeadLetter, StoredMessage
from router.subscriptions import Filter, Subscription

log = logging.getLogger("lienthong.delivery")

# The CloudEvents extension attribute naming the one system an event is for.
RECIPIENT = "recipient"
_RECIPIENT_HEADER = KAFKA_PREFIX + RECIPIENT

T = TypeVar("T")


def is_for(system: str, event_type: str, attributes: Mapping[str, str], released: Collection[str]) -> bool:
    """Whether ``system`` may receive an event of ``event_type`` with these context attributes."""
    recipient = attributes.get(RECIPIENT)
    if recipient is not None:
        return recipient == system
    return event_type not in released


class RecipientOnly:
    """The router's rule: an event carrying released personal data goes to its recipient's
    subscriptions only. ``released`` are the declared types of the contracts in force."""

    def __init__(self, released: Collection[str] = ()) -> None:
        self._released = frozenset(released)

    def addressed(self, event: CloudEvent) -> bool:
        """:meth:`applies` to an event, from its attributes as parsed."""
        return RECIPIENT in event.extensions or event.type in self._released

    def applies(self, event_type: str, attributes: Mapping[str, str]) -> bool:
        """Whether the event is addressed (a declared type, or a ``recipient`` named)."""
        return RECIPIENT in attributes or event_type in self._released

    def narrow(
        self,
        event_type: str,
        attributes: Mapping[str, str],
        targets: Sequence[tuple[Subscription, T]],
    ) -> list[tuple[Subscription, T]]:
        """The targets of an addressed event that belong to its recipient."""
        return [t for t in targets if is_for(t[0].system, event_type, attributes, self._released)]


def addressed_elsewhere(system: str, message: StoredMessage) -> bool:
    """Whether a queued message names a recipient other than ``system``."""
    for name, raw in message.headers:
        if name == _RECIPIENT_HEADER:
            return raw.decode("utf-8", "replace") != system
    return False


def addressed_to(subscription: Subscription, messages: Sequence[StoredMessage]) -> Sequence[StoredMessage]:
    """The messages of a delivery batch the subscription's system may receive. A message
    addressed to another system (queued by a version of the bus without the rule, or a replayed
    dead letter) is dropped: not sent, not dead-lettered, logged by its event id only."""
    kept = [m for m in messages if not addressed_elsewhere(subscription.system, m)]
    if len(kept) == len(messages):
        return messages
    for message in messages:
        if addressed_elsewhere(subscription.system, message):
            log.warning(
                "%s: dropped an event addressed to another system (released personal data)",
                subscription.name,
                extra=tracing.log_fields(message),
            )
    return kept


def withheld(system: str, letters: Sequence[DeadLetter]) -> list[DeadLetter]:
    """``letters`` as a listing for a subscription of ``system`` shows them: a letter addressed
    to another system keeps its attributes and its failure, but not its data."""
    shown: list[DeadLetter] = []
    for letter in letters:
        message = letter.message
        if not addressed_elsewhere(system, message):
            shown.append(letter)
            continue
        shown.append(replace(letter, message=replace(message, value=b"")))
    return shown


# --- what a subscription's filters let through, for the configuration check -------------------


class _Verdict(Enum):
    NO = 0
    YES = 1
    MAYBE = 2


def _negate(verdict: _Verdict) -> _Verdict:
    return {_Verdict.NO: _Verdict.YES, _Verdict.YES: _Verdict.NO}.get(verdict, _Verdict.MAYBE)


def _judge(spec: Filter, event_type: str, system: str) -> _Verdict:
    """Whether the filter matches every event of ``event_type`` whose recipient is any system
    but ``system`` (YES), none of them (NO), or it depends on other attributes (MAYBE)."""
    if isinstance(spec, Exact | Prefix | Suffix):
        if spec.attribute == "type":
            return _Verdict.YES if spec.matches({"type": event_type}) else _Verdict.NO
        if isinstance(spec, Exact) and spec.attribute == RECIPIENT and spec.value == system:
            return _Verdict.NO
        return _Verdict.MAYBE
    if isinstance(spec, All):
        verdicts = [_judge(part, event_type, system) for part in spec.filters]
        if _Verdict.NO in verdicts:
            return _Verdict.NO
        return _Verdict.YES if all(v is _Verdict.YES for v in verdicts) else _Verdict.MAYBE
    if isinstance(spec, Any_):
        verdicts = [_judge(part, event_type, system) for part in spec.filters]
        if _Verdict.YES in verdicts:
            return _Verdict.YES
        return _Verdict.NO if all(v is _Verdict.NO for v in verdicts) else _Verdict.MAYBE
    if isinstance(spec, Not):
        return _negate(_judge(spec.filter, event_type, system))
    return _Verdict.MAYBE  # a filter of another kind: assume it lets events through


def excluded(filters: Sequence[Filter], event_type: str, system: str) -> bool:
    """Whether ``filters`` (all must match) keep out every event of ``event_type`` addressed to a
    system other than ``system``: one of them is ``exact: {recipient: <system>}``, or rules the
    type out, on every path. When it cannot be told, the answer is no."""
    return any(_judge(spec, event_type, system) is _Verdict.NO for spec in filters)
