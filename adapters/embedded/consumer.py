"""EmbeddedConsumer: the member of a consumer group reading one topic of an :class:`EmbeddedLog`.

The log lives in one process, so a group has one member there and it owns every partition. Its
*position* (next offset to fetch, per partition) is in memory; its *committed* offsets are in the
file. A new member starts at the committed offsets, so whatever was fetched and not committed
before a crash is fetched again: at-least-once. A rewind goes back to the start of the batch last
fetched, as on Kafka (:meth:`router.ports.Consumer.rewind`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Protocol

from adapters.embedded.topic_view import TopicView
from router.ports import StoredMessage, TransportError


class ConsumedLog(Protocol):
    """What a consumer needs of the log it reads (:class:`~adapters.embedded.log.EmbeddedLog`)."""

    @property
    def closed(self) -> bool: ...

    @property
    def default_partitions(self) -> int: ...

    async def create_topic(self, topic: str, partitions: int) -> None: ...

    def view(self, topic: str) -> TopicView | None: ...

    async def read_partitions(
        self, view: TopicView, plan: Sequence[tuple[int, int, int]]
    ) -> dict[int, list[StoredMessage]]: ...

    async def committed_offsets(self, group: str, topic: str) -> dict[int, int]: ...

    async def commit_offsets(self, group: str, topic: str, offsets: dict[int, int]) -> None: ...


class EmbeddedConsumer:
    def __init__(self, log: ConsumedLog, group: str, topic: str) -> None:
        self._log = log
        self._group = group
        self._topic = topic
        self._view: TopicView | None = None
        self._positions: list[int] = []
        self._rewinds: list[int] = []  # per partition, how many times it was rewound
        # Per partition, the batch last fetched and not yet committed or rewound: the offsets of
        # its first message and of the message after its last.
        self._in_flight: dict[int, tuple[int, int]] = {}
        self._committed: dict[int, int] = {}
        self._rotation = 0
        self._closed = False

    @property
    def group(self) -> str:
        return self._group

    @property
    def topic(self) -> str:
        return self._topic

    async def start(self) -> None:
        """Creates the topic if needed and positions every partition at its committed offset."""
        if self._view is not None:
            return
        await self._log.create_topic(self._topic, self._log.default_partitions)
        view = self._log.view(self._topic)
        if view is None:  # pragma: no cover - create_topic has just published it
            raise TransportError(f"topic {self._topic!r} vanished")
        self._committed = await self._log.committed_offsets(self._group, self._topic)
        self._view = view
        self._positions = [self._committed_or_start(p) for p in range(view.partitions)]
        self._rewinds = [0] * view.partitions

    async def close(self) -> None:
        self._closed = True

    def assignment(self) -> frozenset[int]:
        return frozenset(range(self._view.partitions)) if self._view is not None else frozenset()

    async def fetch(self, max_messages: int, timeout: float) -> Mapping[int, Sequence[StoredMessage]]:
        view = await self._started()
        if max_messages <= 0:
            return {}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout)
        while True:
            ready = self._ready(view)
            if ready:
                break
            remaining = deadline - loop.time()
            if remaining <= 0:
                return {}
            # Appends in this process set the event after their commit: no polling.
            changed = view.changed
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                return {}
            self._check_open()
        rewinds = list(self._rewinds)
        batches = await self._log.read_partitions(view, self._plan(view, ready, max_messages))
        for partition in ready:
            if self._rewinds[partition] != rewinds[partition]:
                # Rewound while we were reading: what we read is stale, it will be fetched again.
                batches.pop(partition, None)
                continue
            messages = batches.get(partition)
            if messages:
                self._positions[partition] = messages[-1].offset + 1
                self._in_flight[partition] = (messages[0].offset, messages[-1].offset + 1)
            else:  # retention emptied the range meanwhile
                self._positions[partition] = max(self._positions[partition], view.starts[partition])
        return batches

    async def commit(self, offsets: Mapping[int, int]) -> None:
        """Durably records the next offset to read per partition (returns once durable)."""
        view = await self._started()
        for partition, offset in offsets.items():
            if not 0 <= partition < view.partitions:
                raise ValueError(f"topic {self._topic!r} has no partition {partition}")
            if offset < 0:
                raise ValueError(f"offset {offset} of partition {partition} is negative")
        if not offsets:
            return
        await self._log.commit_offsets(self._group, self._topic, dict(offsets))
        self._committed.update(offsets)
        for partition, offset in offsets.items():
            batch = self._in_flight.get(partition)
            if batch is not None and batch[1] <= offset:
                del self._in_flight[partition]

    async def rewind(self, partitions: Sequence[int]) -> None:
        """Moves these partitions back to the first message of the batch last fetched from them
        (or of what retention kept of it): that batch is fetched again, nothing before it."""
        view = await self._started()
        for partition in partitions:
            if not 0 <= partition < view.partitions:
                raise ValueError(f"topic {self._topic!r} has no partition {partition}")
        for partition in partitions:
            batch = self._in_flight.pop(partition, None)
            if batch is not None:
                self._positions[partition] = max(batch[0], view.starts[partition])
            # a fetch reading meanwhile has read past the new position: its result is dropped
            self._rewinds[partition] += 1

    def position(self, partition: int) -> int:
        """The next offset :meth:`fetch` will return for the partition."""
        return self._positions[partition]

    # ---------------------------------------------------------------------------------------

    async def _started(self) -> TopicView:
        self._check_open()
        if self._view is None:
            await self.start()
        assert self._view is not None
        return self._view

    def _check_open(self) -> None:
        if self._closed:
            raise TransportError("the consumer is closed")
        if self._log.closed:
            raise TransportError("the log is closed")

    def _committed_or_start(self, partition: int) -> int:
        """The committed offset, or the first retained one if retention went past it (or none)."""
        assert self._view is not None
        return max(self._committed.get(partition, 0), self._view.starts[partition])

    def _ready(self, view: TopicView) -> list[int]:
        """Partitions with messages past the position, starting from a rotating partition so that
        a busy partition cannot starve the others."""
        count = view.partitions
        first = self._rotation
        self._rotation = (first + 1) % count
        ready: list[int] = []
        for step in range(count):
            partition = (first + step) % count
            # Retention may have deleted past the position: go on from the first retained offset.
            self._positions[partition] = max(self._positions[partition], view.starts[partition])
            if view.ends[partition] > self._positions[partition]:
                ready.append(partition)
        return ready

    def _plan(self, view: TopicView, ready: list[int], max_messages: int) -> list[tuple[int, int, int]]:
        """Shares ``max_messages`` between the ready partitions: an equal share each, then what
        the partitions with fewer messages left unused goes to the others, in order."""
        available = [view.ends[partition] - self._positions[partition] for partition in ready]
        share = -(-max_messages // len(ready))  # ceiling
        takes = [min(share, count) for count in available]
        left = max_messages - sum(takes)
        for index, count in enumerate(available):
            if left <= 0:
                break
            extra = min(count - takes[index], left)
            takes[index] += extra
            left -= extra
        # With the ceiling, the equal shares can exceed the total by a few: trim from the end.
        excess = sum(takes) - max_messages
        for index in range(len(takes) - 1, -1, -1):
            if excess <= 0:
                break
            cut = min(excess, takes[index])
            takes[index] -= cut
            excess -= cut
        return [
            (partition, self._positions[partition], take)
            for partition, take in zip(ready, takes, strict=True)
            if take > 0
        ]
