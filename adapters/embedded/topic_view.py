"""TopicView: a topic of the :class:`~adapters.embedded.log.EmbeddedLog` as the event loop knows it.

The log updates a topic's view after each commit, before the appenders resume; consumers read
offsets and the newest messages from it and wait on its event, without a trip to SQLite.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from itertools import islice

from router.ports import Headers, StoredMessage

# An appended message for the tail: (partition, offset, key, value, headers, timestamp_ms).
Appended = tuple[int, int, str, bytes, Headers, int]
# Messages kept in memory per partition, newest last: consumers that keep up (the router, the
# deliveries) are served from here instead of reading back, and decoding, what was just written.
TAIL_MESSAGES = 1024


@dataclass(slots=True)
class TopicView:
    """A topic as the event loop knows it, as of the last commit."""

    id: int
    name: str
    partitions: int
    bases: list[int]  # per partition, the rowid of its offset 0
    ends: list[int]  # per partition, the offset the next appended message will get
    starts: list[int]  # per partition, the first retained offset
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    # per partition, the newest appended messages, contiguous in offsets (see TAIL_MESSAGES), as
    # the writer handed them over: a StoredMessage is built only for what a consumer fetches (no
    # one fetches the inbound topic of a log that routes at publish)
    tails: list[deque[Appended]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.tails:
            self.tails = [deque(maxlen=TAIL_MESSAGES) for _ in range(self.partitions)]

    def from_tail(self, partition: int, start: int, limit: int) -> list[StoredMessage] | None:
        """Messages from ``start`` on if the tail holds ``start``, else None (read the file)."""
        tail = self.tails[partition]
        if not tail or not tail[0][1] <= start <= tail[-1][1] or start < self.starts[partition]:
            return None
        first = start - tail[0][1]
        name = self.name
        return [
            StoredMessage(name, partition, offset, key, value, headers, timestamp_ms)
            for _, offset, key, value, headers, timestamp_ms in islice(tail, first, first + limit)
        ]

    def remember(self, appended: list[Appended]) -> None:
        """Adds committed messages to the tails, keeping each tail contiguous."""
        tails = self.tails
        for message in appended:
            tail = tails[message[0]]
            if tail and tail[-1][1] + 1 != message[1]:
                tail.clear()
            tail.append(message)

    def notify(self) -> None:
        """Wakes everything waiting for this topic to change."""
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()
