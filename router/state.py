"""The state store port: the deployment's shared state, as Protocols.

One bus may run as several processes (on Kafka); what they must agree on lives in one store that
every process reaches: the embedded SQLite file on a single machine (``adapters.state.sqlite``),
PostgreSQL for a bus of several processes (``adapters.state.postgres``). The core only sees these
types. The audit log, the first kind of state kept there, has its own port
(:class:`router.audit.AuditLog`); each store adapter comes with an audit log over it.

Publish dedup: an event's ``(source, id)`` is accepted once within the retention window, whichever
process it reaches. A process *claims* the ids of the events it is about to append; the store
answers, per id, that the claim is the caller's (append it, then :meth:`PublishDedup.settle` where
it landed), that the event was appended already (a duplicate, with where it landed), or that
another process holds a claim and has not settled it yet (in flight: the caller answers 503 and the
client retries; a claim not settled within its lease, its process gone, is taken over by the next
claim). An append that fails gives its claims back (:meth:`PublishDedup.release`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from router.errors import LienthongError

# How long a claim holds before another process may take it over: well past a publish's append
# timeout, so that a claim is only ever taken from a process that is gone or gave up.
CLAIM_LEASE_S = 60.0


class StateUnavailable(LienthongError):
    """The shared state store is out of reach: what needs it is refused until it is back."""

    code = "state_unavailable"
    status = 503
    title = "The shared state store is unavailable"


class ClaimState(enum.Enum):
    MINE = "mine"  # the caller appends it
    DUPLICATE = "duplicate"  # appended already (where: partition and offset when known)
    IN_FLIGHT = "in_flight"  # another process is appending it


@dataclass(frozen=True, slots=True)
class Claim:
    state: ClaimState
    partition: int = 0
    offset: int | None = None


@dataclass(frozen=True, slots=True)
class Placed:
    """Where an appended event landed, for :meth:`PublishDedup.settle`."""

    dedup_id: str
    partition: int
    offset: int | None


class PublishDedup(Protocol):
    async def claim(self, topic: str, dedup_ids: Sequence[str]) -> Mapping[str, Claim]:
        """Claims the ids (all distinct) for an append to ``topic``; one answer per id. Raises
        :class:`StateUnavailable` when the store is out of reach (nothing is claimed)."""
        ...

    async def settle(self, topic: str, placed: Sequence[Placed]) -> None:
        """The caller's claims, appended: from now on their ids are duplicates until the
        retention window ends."""
        ...

    async def release(self, topic: str, dedup_ids: Sequence[str]) -> None:
        """The caller's claims given back (their append failed): the next claim takes them."""
        ...

    async def seen(self, topic: str, dedup_id: str) -> bool:
        """Whether the id was appended (settled) within the retention window."""
        ...


class StateStore(Protocol):
    """The deployment's shared state: opened (its schema migrated) by :meth:`start`."""

    @property
    def dedup(self) -> PublishDedup: ...

    async def start(self) -> None:
        """Connects and brings the schema to the current version (:meth:`migrate`); raises
        :class:`StateUnavailable` when the store cannot be reached."""
        ...

    async def migrate(self) -> list[int]:
        """Applies the schema versions not applied yet, in order, safely when several processes
        start at once; returns the versions this call applied."""
        ...

    async def healthy(self) -> bool: ...

    async def close(self) -> None: ...


class SessionRevocations(Protocol):
    """Console sessions ended before their expiry (a sign-out): refused by every process that
    reads them here, until they would have expired anyway."""

    async def revoke(self, session_id: str, expires_at: float) -> None:
        """Ends the session ``session_id``, which expires at ``expires_at`` (s since the epoch).
        Raises :class:`StateUnavailable` when the store is out of reach (nothing is recorded)."""
        ...

    async def revoked(self, session_id: str) -> bool:
        """Whether the session was ended; :class:`StateUnavailable` when the store cannot say."""
        ...


class CollectionAttempts(Protocol):
    """The attempts at a dossier's evidence collection while it is retried (a provider down), so
    that its partial result goes out on the attempt its retry budget allows last, whichever
    process makes that attempt."""

    async def attempt(self, collector: str, dossier: str, now: float) -> tuple[int, float]:
        """Counts one more attempt of ``collector`` (its system) at ``dossier``'s collection, at
        ``now`` (s); answers the attempts so far, this one included, and when the first was."""
        ...

    async def forget(self, collector: str, dossier: str) -> None:
        """The collection went out: its next submission counts from one again."""
        ...
