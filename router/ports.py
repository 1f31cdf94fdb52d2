"""The ports of the core: what the router needs from the outside world, as Protocols.

Adapters implement them (``adapters.embedded`` on the embedded SQLite log, ``adapters.kafka`` on
Kafka); the core only ever sees these types.

The message model is Kafka's: a topic has a fixed number of partitions, a message has a key
(the CloudEvents ``subject``: the ordering key), a value (the event's ``data``), headers (the
CloudEvents attributes in Kafka binary mode, ``ce_*``) and an offset in its partition. Consumer
groups commit the *next* offset to read, like Kafka.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, dataclass_transform

Headers = tuple[tuple[str, bytes], ...]

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True)
def hot_value(cls: type[_T]) -> type[_T]:
    """A dataclass that the type checker holds frozen and the interpreter builds as a plain one.

    For the values built several times per event on the bus's hot path (a message appended,
    read back, routed; where it landed): a frozen dataclass's ``__init__`` sets each field
    through ``object.__setattr__``, about 7x the cost of a plain slotted one (2.5 against 0.36 us
    for a StoredMessage on the development machine). mypy --strict still refuses any assignment
    to a field, and instances keep their value hash.
    """
    return dataclass(slots=True, unsafe_hash=True)(cls)


@hot_value
class Message:
    """A message handed to a transport to append."""

    key: str
    value: bytes
    headers: Headers = ()
    # Idempotent publish: a transport appends a message whose dedup_id it has already seen
    # within its retention window at most once (and reports it as a duplicate).
    dedup_id: str | None = None
    # Milliseconds since the epoch; 0 means "now" (set by the transport).
    timestamp_ms: int = 0


@hot_value
class StoredMessage:
    """A message read back from a transport."""

    topic: str
    partition: int
    offset: int
    key: str
    value: bytes
    headers: Headers
    timestamp_ms: int

    def header(self, name: str) -> bytes | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None


@hot_value
class AppendResult:
    """Where an appended message landed; ``duplicate`` when its dedup_id was already seen."""

    partition: int
    offset: int | None
    duplicate: bool = False


class TransportError(Exception):
    """The transport could not do what was asked (disk full, broker unreachable...)."""


class Consumer(Protocol):
    """A member of a consumer group reading one topic.

    Delivery is at-least-once: what is fetched and not committed is fetched again by the
    next member of the group after a crash, or after :meth:`rewind`.
    """

    @property
    def group(self) -> str: ...

    @property
    def topic(self) -> str: ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    def assignment(self) -> frozenset[int]:
        """The partitions this member currently owns."""
        ...

    async def fetch(self, max_messages: int, timeout: float) -> Mapping[int, Sequence[StoredMessage]]:
        """Up to ``max_messages`` messages past the current position, grouped by partition.

        Waits up to ``timeout`` seconds for the first message; returns an empty mapping then.
        """
        ...

    async def commit(self, offsets: Mapping[int, int]) -> None:
        """Durably records, per partition, the offset of the next message to read."""
        ...

    async def rewind(self, partitions: Sequence[int]) -> None:
        """Moves the position of these partitions back to the first message of the batch last
        fetched from them, so that this batch is fetched again, and nothing before it (what
        came before was handled, even if its commit has not landed). A partition with nothing
        fetched since its last commit or rewind stays where it is. The member knows these
        positions itself: a rewind does not depend on reading the committed offsets."""
        ...


class Transport(Protocol):
    """A partitioned, durable, append-only log with consumer groups."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def create_topic(self, topic: str, partitions: int) -> None:
        """Creates the topic if it does not exist (existing topics keep their partitions)."""
        ...

    async def append(
        self, topic: str, messages: Sequence[Message], *, retry_for_s: float | None = None
    ) -> list[AppendResult]:
        """Appends messages; returns only once they are durable, in the order given.

        Messages with the same key go to the same partition, in order. Either every message
        of the call is appended or none is (raises :class:`TransportError`).

        A log that can be out of reach for a while (a broker restarting) is retried until
        ``retry_for_s`` seconds from the call have passed (the transport's own append timeout
        when None), sending again only what is not durable yet. A publisher, whose client waits
        for the answer, keeps the default; the router, which could only fail its batch and
        append it again, waits longer.
        """
        ...

    def consumer(self, group: str, topic: str) -> Consumer: ...

    async def seen(self, topic: str, dedup_id: str) -> bool:
        """Whether a message with ``dedup_id`` was appended to ``topic`` within the retention
        window; always False on a transport that keeps no dedup ids."""
        ...

    async def lag(self, group: str, topic: str) -> int:
        """Messages in the topic that the group has not committed yet."""
        ...

    async def healthy(self) -> bool: ...


@hot_value
class Routed:
    """Routing at publish: where one published message goes, and its copy for those delivery
    queues: the published message with ``headers`` added after its own (one copy, the same for
    every topic)."""

    headers: Headers
    topics: tuple[str, ...]


class RoutingLog(Protocol):
    """A transport that appends a published event and its routed copies in one transaction (the
    embedded log), so that no router reads the inbound topic back to route it."""

    async def append_routed(
        self, topic: str, messages: Sequence[Message], routed: Sequence[Routed | None], group: str
    ) -> list[AppendResult]:
        """Appends ``messages`` to ``topic`` as :meth:`Transport.append` does and, for each one
        that is not a duplicate, its copy (``routed[i]``) to each of ``routed[i].topics``, in the
        messages' order; and moves ``group``'s committed offsets on ``topic`` past the appended messages
        (they are routed). All of it durably, or none of it."""
        ...


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event a subscription gave up delivering, with why."""

    id: int
    subscription: str
    event_id: str
    subject: str
    reason: str
    attempts: int
    last_error: str
    failed_at_ms: int
    message: StoredMessage
    replayed_at_ms: int | None = None


@dataclass(frozen=True, slots=True)
class NewDeadLetter:
    subscription: str
    event_id: str
    subject: str
    reason: str
    attempts: int
    last_error: str
    message: StoredMessage


@dataclass(frozen=True, slots=True)
class DeadLetterQuery:
    subscription: str | None = None
    include_replayed: bool = False
    after_id: int = 0
    limit: int = 100
    subject: str | None = None
    ids: tuple[int, ...] = field(default=())


class DeadLetterStore(Protocol):
    """Where subscriptions park the events they could not deliver, for listing and replay."""

    async def add(self, letters: Sequence[NewDeadLetter]) -> None:
        """Stores letters durably; a letter for an (subscription, event_id, offset) already held is ignored."""
        ...

    async def list(self, query: DeadLetterQuery) -> list[DeadLetter]: ...

    async def mark_replayed(self, ids: Sequence[int]) -> None: ...

    async def purge(self, ids: Sequence[int]) -> None:
        """Deletes letters for good (an operator's decision, audited by the bus). A subject the
        purge leaves with no letter at all, replayed or not, is recorded as released
        (:meth:`purged_holds`), in the same transaction: every process of the bus learns of it
        from the store. A replayed letter kept holds its subject: its copy may still be on its
        way, and lifts the hold when it comes, in queue order. Purges at once of one subject's
        letters are serialised, so that the last of them sees the subject empty. A new letter of
        a subject deletes its record."""
        ...

    async def held_subjects(self, subscription: str) -> frozenset[str]:
        """Subjects of the subscription with a dead letter not replayed yet."""
        ...

    async def purged_holds(self, subscription: str, subjects: Sequence[str]) -> frozenset[str]:
        """Of ``subjects``, those whose hold a purge ended: a purge left the subject with no
        letter, and no letter of it is there now. A subject with a replayed letter is not among
        them (the replayed copy lifts its hold, in queue order), nor one that failed again since
        the purge (committed before or after it)."""
        ...

    async def count(self, subscription: str) -> int:
        """Dead letters of the subscription not replayed yet."""
        ...
