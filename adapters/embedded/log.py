"""EmbeddedLog: :class:`router.ports.Transport` over one SQLite file in WAL mode.

Who does what:

- The event loop never touches SQLite. Writes (appends, offset commits, topic creation, dead
  letters, retention) are jobs for the :class:`~adapters.embedded.writer.Writer` thread, which
  commits them in groups; reads go to the :class:`~adapters.embedded.reader.Reader` thread.
- The writer thread owns the catalogue of topics and each partition's next offset, in memory
  (:class:`_Topic`): assigning offsets costs no query. A transaction's changes to it are staged in a
  :class:`_Pending` and applied only when the transaction commits.
- The event loop holds a :class:`TopicView` per topic (end and start offsets, and an event that
  wakes waiting consumers), updated after each commit, before the appenders resume: once
  ``append`` has returned, a consumer of this process sees the messages.

Placement: a message goes to partition ``crc32(utf8(key)) % partitions``
(:func:`~adapters.embedded.codec.partition_for`), so one key's messages stay in one partition, in
order. Offsets start at 0 per partition and are never reused.

Idempotent publish: a message whose ``dedup_id`` the topic has seen within the retention window is
not appended; its result is ``duplicate=True`` with the original partition and offset. The check and
the insert are in the append's transaction, so a retried publish after a crash is still caught.

Routing at publish (:meth:`EmbeddedLog.append_routed`): a published message's routed copies go to
their delivery topics in its own transaction, only if it is not a duplicate, and the router
group's offsets move past it there too; a copy has no dedup id of its own (nothing can append it
twice), so it costs no dedup entry.

Retention: every ``retention_interval_s``, messages older than ``retention_s`` (by their timestamp)
are deleted from the head of each partition, in bounded chunks interleaved with appends. Only a
prefix is ever deleted, so a partition stays a contiguous range [start, end); a message's dedup
entry is deleted with it, which is what bounds the dedup window.

One process per file (:mod:`~adapters.embedded.lock`); inside it, one consumer per group and topic
owns every partition.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

import orjson

from adapters.embedded.codec import decode_headers, encode_headers, encode_more, partition_for
from adapters.embedded.consumer import EmbeddedConsumer
from adapters.embedded.lock import ProcessLock
from adapters.embedded.reader import Reader
from adapters.embedded.tables import MAX_OFFSET, MAX_PARTITION_ID, OFFSET_BITS, Durability, connect
from adapters.embedded.topic_view import TAIL_MESSAGES, Appended, TopicView
from adapters.embedded.writer import Txn, Writer
from router.ports import AppendResult, Headers, Message, Routed, StoredMessage, TransportError

__all__ = ["EmbeddedLog"]

T = TypeVar("T")

MAX_PARTITIONS = 4096
# Bounds of fetch_size: the transports' usual fetch, and what a batch in hand may hold (it is
# delivered again after a crash).
FETCH_MIN = 1000
FETCH_MAX = 8192
# Rows retention deletes per transaction: small enough that an append waiting behind it is delayed
# by milliseconds, not seconds.
RETENTION_CHUNK = 5000

_INSERT_MESSAGE = (
    "INSERT INTO messages (position, ts, msg_key, msg_value, headers, dedup_id) VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_DEDUP = "INSERT INTO dedup (topic_id, dedup_id, partition_no, offset_no) VALUES (?, ?, ?, ?)"
# One query for every dedup id of a call: the ids travel as one JSON array parameter.
_FIND_DEDUP = (
    "SELECT dedup_id, partition_no, offset_no FROM dedup"
    " WHERE topic_id = ? AND dedup_id IN (SELECT value FROM json_each(?))"
)
# A partition is the rowid range [base, base + SPAN): base = partition id << OFFSET_BITS.
SPAN = 1 << OFFSET_BITS
_READ_RANGE = (
    "SELECT position - ?, ts, msg_key, msg_value, headers FROM messages"
    " WHERE position >= ? AND position < ? ORDER BY position LIMIT ?"
)
_FIRST_POSITION = (
    "SELECT position FROM messages WHERE position >= ? AND position < ? ORDER BY position LIMIT 1"
)
_LAST_POSITION = (
    "SELECT position FROM messages WHERE position >= ? AND position < ? ORDER BY position DESC LIMIT 1"
)
_UPSERT_COMMITTED = (
    "INSERT INTO group_offsets (group_id, topic_id, partition_no, next_offset) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (group_id, topic_id, partition_no) DO UPDATE SET next_offset = excluded.next_offset"
)


# A message ready for the writer: (partition, key, value, encoded headers, timestamp_ms, dedup_id,
# headers as given: not written, kept for the in-memory tail).
_Row = tuple[int, str, bytes, bytes, int, str | None, Headers]
# Where the writer put it: (partition, offset, duplicate).
_Placed = tuple[int, int, bool]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(slots=True)
class _Topic:
    """A topic as the writer thread knows it."""

    id: int
    name: str
    partitions: int
    bases: list[int]  # per partition, the rowid of its offset 0
    # Per partition, the next offset to hand out, as of the last commit. Never mutated in place:
    # a transaction works on a copy (see _Pending), which replaces it on commit.
    next: list[int]


@dataclass(slots=True)
class _Pending:
    """One transaction's changes to the writer's in-memory state, applied only if it commits."""

    topics: dict[str, _Topic] = field(default_factory=dict)
    next: dict[int, tuple[_Topic, list[int]]] = field(default_factory=dict)
    starts: dict[str, dict[int, int]] = field(default_factory=dict)
    appended: dict[str, list[Appended]] = field(default_factory=dict)


class EmbeddedLog:
    """The durable log of one process, in the SQLite file at ``path``."""

    def __init__(
        self,
        path: Path,
        *,
        default_partitions: int = 8,
        retention_s: float = 7 * 86400,
        durability: Durability = "fsync",
        retention_interval_s: float = 60.0,
        retention_chunk: int = RETENTION_CHUNK,
    ) -> None:
        _check_partitions(default_partitions)
        if retention_s <= 0 or retention_interval_s <= 0:
            raise ValueError("retention_s and retention_interval_s must be positive")
        if durability not in ("fsync", "os"):
            raise ValueError(f"durability must be 'fsync' or 'os', not {durability!r}")
        self.path = Path(path)
        self.default_partitions = default_partitions
        self.retention_s = retention_s
        self.durability: Durability = durability
        self._retention_chunk = retention_chunk
        self._lock = ProcessLock(self.path)
        self._writer = Writer(
            partial(connect, self.path, durability, writer=True),
            name="lienthong-log-writer",
            maintenance=(retention_interval_s, self._retention_pass),
            hooks_wake_consumers=True,  # an append's hook wakes the deliveries of its topic
        )
        self._reader = Reader(
            partial(connect, self.path, durability, writer=False), name="lienthong-log-reader"
        )
        self._topics: dict[str, _Topic] = {}  # writer thread only
        self._views: dict[str, TopicView] = {}  # event loop only
        self._started = False
        self._closed = False
        self._retention_cursor = 0

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._closed:
            raise TransportError("the log is closed")
        if self._started:
            return
        self._lock.acquire()
        try:
            views = await self._writer.start(self._load)
        except BaseException:
            self._lock.release()
            raise
        self._views = {view.name: view for view in views}
        self._started = True

    async def close(self) -> None:
        """Commits what is queued, stops the threads; later calls raise TransportError."""
        if self._closed:
            return
        self._closed = True
        if not self._started:
            return
        for view in self._views.values():
            view.notify()  # waiting consumers wake up and find the log closed
        try:
            await self._writer.close()
            await self._reader.close()
        finally:
            self._lock.release()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def fetch_size(self) -> int:
        """How many messages a consume loop on this log should fetch at most at a time: half a
        tail for each of ``default_partitions``, within bounds. A loop that falls behind (the
        router while publishers send batches at once) takes big enough bites to catch up while
        what it needs is still in the tails, instead of reading it back from the file and decoding
        it; each fetch also costs it one handling and one offset commit, whatever its size."""
        return max(FETCH_MIN, min(FETCH_MAX, self.default_partitions * TAIL_MESSAGES // 2))

    async def healthy(self) -> bool:
        """True when the writer thread runs and the database answers a query."""
        if not self._started or self._closed or not self._writer.alive:
            return False
        try:
            async with asyncio.timeout(5.0):
                await self._reader.run(lambda conn: conn.execute("SELECT 1").fetchone())
        except (TransportError, TimeoutError):
            return False
        return True

    # --- the Transport port ----------------------------------------------------------------

    async def create_topic(self, topic: str, partitions: int) -> None:
        """Creates the topic if it does not exist (an existing topic keeps its partition count)."""
        _check_partitions(partitions)
        self._require_open()
        if topic in self._views:
            return
        await self._writer.submit(partial(self._create_topic, topic, partitions))

    async def append(
        self, topic: str, messages: Sequence[Message], *, retry_for_s: float | None = None
    ) -> list[AppendResult]:
        """Appends all of ``messages`` or none, durably; creates the topic with
        ``default_partitions`` if needed. ``retry_for_s`` is not used: the log is local, there
        is no outage to wait out (a full disk does not clear in seconds)."""
        self._require_open()
        if not messages:
            return []
        view = await self._view(topic)
        rows = self._rows(messages, view.partitions)
        placed = await self._writer.submit(partial(self._append, topic, rows, _dedup_ids(messages)))
        return [AppendResult(partition, offset, duplicate) for partition, offset, duplicate in placed]

    async def append_routed(
        self, topic: str, messages: Sequence[Message], routed: Sequence[Routed | None], group: str
    ) -> list[AppendResult]:
        """Appends ``messages`` to ``topic`` and, for each one that is not a duplicate, its
        routed copy to each of its topics, in one transaction; ``group``'s committed offsets on
        ``topic`` move past the appended messages in the same transaction.

        So a published event is in the delivery queues the moment it is acknowledged, and nothing
        reads it back to route it. ``group`` (the router's) must be caught up with ``topic`` before
        the first such append: the offsets it commits here skip whatever it had not read."""
        self._require_open()
        if not messages:
            return []
        view = await self._view(topic)
        rows = self._rows(messages, view.partitions)
        # per routed topic, its partition count (the inbound topic's, as a rule: then a copy goes
        # to the partition its published message went to)
        counts: dict[str, int] = {}
        for target in routed:
            for name in target.topics if target is not None else ():
                if name not in counts:
                    counts[name] = (await self._view(name)).partitions
        copies: list[tuple[tuple[str, ...], tuple[int, ...], _Row] | None] = []
        for row, target in zip(rows, routed, strict=True):
            if target is None or not target.topics:
                copies.append(None)
                continue
            partition, key, value, blob, timestamp_ms, _, headers = row
            placements = tuple(
                partition if counts[name] == view.partitions else partition_for(key, counts[name])
                for name in target.topics
            )
            blob = encode_more(blob, target.headers)
            copy = (0, key, value, blob, timestamp_ms, None, (*headers, *target.headers))
            copies.append((target.topics, placements, copy))
        placed = await self._writer.submit(
            partial(self._append_routed, topic, rows, _dedup_ids(messages), copies, group)
        )
        return [AppendResult(partition, offset, duplicate) for partition, offset, duplicate in placed]

    async def _view(self, topic: str) -> TopicView:
        """The topic's view, the topic created with ``default_partitions`` if needed."""
        view = self._views.get(topic)
        if view is None:
            await self.create_topic(topic, self.default_partitions)
            view = self._views[topic]
        return view

    @staticmethod
    def _row(message: Message, partition: int, now: int) -> _Row:
        return (
            partition,
            message.key,
            message.value,
            encode_headers(message.headers),
            message.timestamp_ms or now,
            message.dedup_id,
            message.headers,
        )

    def _rows(self, messages: Sequence[Message], partitions: int) -> list[_Row]:
        """The messages ready for the writer. Placement and encoding happen here, on the caller's
        thread: the writer thread, which every write of the process goes through, then spends its
        time in SQLite."""
        now = now_ms()
        return [self._row(message, partition_for(message.key, partitions), now) for message in messages]

    def consumer(self, group: str, topic: str) -> EmbeddedConsumer:
        """The member of ``group`` reading ``topic`` (one per group and topic in a process)."""
        return EmbeddedConsumer(self, group, topic)

    async def lag(self, group: str, topic: str) -> int:
        """Retained messages of the topic past the group's committed offsets."""
        self._require_open()
        view = self._views.get(topic)
        if view is None:
            return 0
        committed = await self.committed_offsets(group, topic)
        return sum(
            max(0, end - max(committed.get(partition, 0), start))
            for partition, (end, start) in enumerate(zip(view.ends, view.starts, strict=True))
        )

    # --- for consumers, dead letters and tools ---------------------------------------------

    def view(self, topic: str) -> TopicView | None:
        """The event loop's view of a topic (None if it does not exist)."""
        return self._views.get(topic)

    async def end_offsets(self, topic: str) -> dict[int, int]:
        """Per partition, the offset the next message will get (empty if the topic does not exist)."""
        view = self._views.get(topic)
        return {} if view is None else dict(enumerate(view.ends))

    async def start_offsets(self, topic: str) -> dict[int, int]:
        """Per partition, the first offset retention has kept."""
        view = self._views.get(topic)
        return {} if view is None else dict(enumerate(view.starts))

    async def read(self, topic: str, partition: int, from_offset: int, limit: int) -> list[StoredMessage]:
        """Up to ``limit`` messages of one partition from ``from_offset`` on (for tools and tests)."""
        self._require_open()
        view = self._views.get(topic)
        if view is None or not 0 <= partition < view.partitions or limit <= 0:
            return []
        batches = await self.read_partitions(view, [(partition, from_offset, limit)])
        return list(batches.get(partition, ()))

    async def read_partitions(
        self, view: TopicView, plan: Sequence[tuple[int, int, int]]
    ) -> dict[int, list[StoredMessage]]:
        """Reads ``(partition, from_offset, limit)`` ranges: from the in-memory tail where it holds
        them, the others in one trip to the reader thread."""
        out: dict[int, list[StoredMessage]] = {}
        ranges: list[tuple[int, int, int, int]] = []
        for partition, start, limit in plan:
            cached = view.from_tail(partition, max(0, start), limit)
            if cached is None:
                ranges.append((partition, view.bases[partition], max(0, start), limit))
            elif cached:
                out[partition] = cached
        if ranges:
            out.update(await self._reader.run(partial(_read_ranges, view.name, tuple(ranges))))
        return out

    async def seen(self, topic: str, dedup_id: str) -> bool:
        """Whether ``topic`` holds a dedup entry for ``dedup_id`` (retention expires them)."""
        self._require_open()
        view = self._views.get(topic)
        if view is None:
            return False
        return await self._reader.run(partial(_has_dedup, view.id, dedup_id))

    async def committed_offsets(self, group: str, topic: str) -> dict[int, int]:
        """Per partition, the group's committed next offset (partitions never committed are absent)."""
        self._require_open()
        view = self._views.get(topic)
        if view is None:
            return {}
        return await self._reader.run(partial(_committed, group, view.id))

    async def commit_offsets(self, group: str, topic: str, offsets: dict[int, int]) -> None:
        """Durably records the group's next offsets (group-committed with other writes)."""
        self._require_open()
        view = self._views.get(topic)
        if view is None:
            raise TransportError(f"no topic {topic!r}")
        rows = [(group, view.id, partition, offset) for partition, offset in offsets.items()]
        if rows:
            await self._writer.submit(partial(_store_committed, rows))

    async def run_in_writer(self, fn: Callable[[Txn], T]) -> T:
        """Runs ``fn`` in a write transaction on the writer thread; returns once committed."""
        self._require_open()
        return await self._writer.submit(fn)

    async def run_in_reader(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Runs ``fn`` with the read connection on the reader thread."""
        self._require_open()
        return await self._reader.run(fn)

    def _require_open(self) -> None:
        if self._closed:
            raise TransportError("the log is closed")
        if not self._started:
            raise TransportError("the log is not started")

    # --- on the writer thread --------------------------------------------------------------

    def _load(self, conn: sqlite3.Connection) -> list[TopicView]:
        """Reads the catalogue and each partition's offset range (at startup)."""
        views: list[TopicView] = []
        for topic_id, name, partitions in conn.execute("SELECT id, name, partitions FROM topics").fetchall():
            rows = conn.execute(
                "SELECT partition_no, id, next_offset_floor FROM partitions WHERE topic_id = ? ORDER BY partition_no",
                (topic_id,),
            ).fetchall()
            if [row[0] for row in rows] != list(range(partitions)):
                raise TransportError(f"the log {self.path} is damaged: topic {name!r} lacks partitions")
            bases = [partition_id << OFFSET_BITS for _, partition_id, _ in rows]
            nexts: list[int] = []
            starts: list[int] = []
            for base, (_, _, floor) in zip(bases, rows, strict=True):
                first = conn.execute(_FIRST_POSITION, (base, base + SPAN)).fetchone()
                last = conn.execute(_LAST_POSITION, (base, base + SPAN)).fetchone()
                following = max(floor, last[0] - base + 1 if last else 0)
                nexts.append(following)
                starts.append(first[0] - base if first else following)
            self._topics[name] = _Topic(topic_id, name, partitions, bases, nexts)
            views.append(TopicView(topic_id, name, partitions, bases, list(nexts), starts))
        return views

    def _pending(self, txn: Txn) -> _Pending:
        def begin() -> _Pending:
            pending = _Pending()
            txn.after_commit(partial(self._apply, pending))
            txn.in_loop(partial(self._publish, pending))
            return pending

        return txn.local(_Pending, begin)

    def _apply(self, pending: _Pending) -> None:
        self._topics.update(pending.topics)
        for topic, nexts in pending.next.values():
            topic.next = nexts

    def _topic(self, txn: Txn, pending: _Pending, name: str, partitions: int) -> _Topic:
        topic = self._topics.get(name) or pending.topics.get(name)
        if topic is None:
            cursor = txn.conn.execute(
                "INSERT INTO topics (name, partitions) VALUES (?, ?)", (name, partitions)
            )
            assert cursor.lastrowid is not None
            topic_id = cursor.lastrowid
            bases: list[int] = []
            for partition in range(partitions):
                cursor = txn.conn.execute(
                    "INSERT INTO partitions (topic_id, partition_no) VALUES (?, ?)", (topic_id, partition)
                )
                assert cursor.lastrowid is not None
                if cursor.lastrowid > MAX_PARTITION_ID:
                    raise TransportError(f"the log {self.path} has no room for more partitions")
                bases.append(cursor.lastrowid << OFFSET_BITS)
            topic = pending.topics[name] = _Topic(topic_id, name, partitions, bases, [0] * partitions)
        return topic

    def _create_topic(self, name: str, partitions: int, txn: Txn) -> None:
        self._topic(txn, self._pending(txn), name, partitions)

    def _append_routed(
        self,
        name: str,
        rows: list[_Row],
        dedup_ids: bytes | None,
        copies: list[tuple[tuple[str, ...], tuple[int, ...], _Row] | None],
        group: str,
        txn: Txn,
    ) -> list[_Placed]:
        """:meth:`_append`, then the routed copies of the rows appended (not the duplicates), by
        topic in the rows' order, then ``group``'s offsets past what was appended."""
        placed = self._append(name, rows, dedup_ids, txn)
        by_topic: dict[str, list[_Row]] = {}
        touched: set[int] = set()
        for (partition, _, duplicate), copy in zip(placed, copies, strict=True):
            if duplicate:
                continue
            touched.add(partition)
            if copy is None:
                continue
            topics, partitions, row = copy
            for topic, routed_partition in zip(topics, partitions, strict=True):
                by_topic.setdefault(topic, []).append((routed_partition, *row[1:]))
        for topic, routed_rows in by_topic.items():
            self._append(topic, routed_rows, None, txn)
        if touched:
            topic_id, nexts = self._staged(txn, name)
            txn.conn.executemany(
                _UPSERT_COMMITTED, [(group, topic_id, partition, nexts[partition]) for partition in touched]
            )
        return placed

    def _staged(self, txn: Txn, name: str) -> tuple[int, list[int]]:
        """The id of topic ``name`` (appended to in this transaction) and its next offsets as
        this transaction leaves them."""
        pending = self._pending(txn)
        topic = self._topics.get(name) or pending.topics[name]
        return topic.id, pending.next[topic.id][1]

    def _append(self, name: str, rows: list[_Row], dedup_ids: bytes | None, txn: Txn) -> list[_Placed]:
        """Assigns offsets, skips known dedup ids and inserts; returns where each row went.

        Everything that can be done before (encoding, placement, AppendResult objects) is done by
        the caller on the event loop: this thread is the one every write waits for.
        """
        pending = self._pending(txn)
        topic = self._topic(txn, pending, name, self.default_partitions)
        staged = pending.next.get(topic.id)
        if staged is None:
            staged = pending.next[topic.id] = (topic, list(topic.next))
        nexts = staged[1]
        topic_id, bases = topic.id, topic.bases
        known: dict[str, _Placed] = {}
        if dedup_ids is not None:
            for dedup_id, partition, offset in txn.conn.execute(_FIND_DEDUP, (topic_id, dedup_ids)):
                known[dedup_id] = (partition, offset, True)
        placed: list[_Placed] = []
        inserts: list[tuple[int, int, str, bytes, bytes, str | None]] = []
        dedup_inserts: list[tuple[int, str, int, int]] = []
        appended = pending.appended.setdefault(name, [])
        for partition, key, value, headers, timestamp_ms, dedup_id, given_headers in rows:
            if dedup_id is not None and dedup_id in known:
                placed.append(known[dedup_id])
                continue
            offset = nexts[partition]
            nexts[partition] = offset + 1
            inserts.append((bases[partition] | offset, timestamp_ms, key, value, headers, dedup_id))
            appended.append((partition, offset, key, value, given_headers, timestamp_ms))
            placed.append((partition, offset, False))
            if dedup_id is not None:
                known[dedup_id] = (partition, offset, True)  # a second copy in this call is a duplicate
                dedup_inserts.append((topic_id, dedup_id, partition, offset))
        if max(nexts) > MAX_OFFSET:
            raise TransportError(f"topic {name!r} has used up the offsets of a partition")
        if inserts:
            txn.conn.executemany(_INSERT_MESSAGE, inserts)
        if dedup_inserts:
            txn.conn.executemany(_INSERT_DEDUP, dedup_inserts)
        return placed

    def _retention_pass(self, txn: Txn) -> bool:
        """Deletes up to ``retention_chunk`` expired messages (and their dedup entries) from the
        heads of the partitions; True when there may be more."""
        cutoff = now_ms() - int(self.retention_s * 1000)
        pending = self._pending(txn)
        budget = self._retention_chunk
        more = False
        heads = [
            (topic, partition) for topic in self._topics.values() for partition in range(topic.partitions)
        ]
        # Round-robin over passes, so a huge partition cannot starve the others.
        for index in range(len(heads)):
            if budget == 0:
                self._retention_cursor = (self._retention_cursor + index) % len(heads)
                return True
            topic, partition = heads[(self._retention_cursor + index) % len(heads)]
            base = topic.bases[partition]
            rows = txn.conn.execute(
                "SELECT position, ts, dedup_id FROM messages WHERE position >= ? AND position < ?"
                " ORDER BY position LIMIT ?",
                (base, base + SPAN, budget),
            ).fetchall()
            expired = 0
            for _, ts, _ in rows:
                if ts >= cutoff:
                    break
                expired += 1
            if expired == 0:
                continue
            more = more or expired == budget
            bound = rows[expired - 1][0] + 1 - base
            txn.conn.execute(
                "DELETE FROM messages WHERE position >= ? AND position < ?", (base, base + bound)
            )
            txn.conn.executemany(
                "DELETE FROM dedup WHERE topic_id = ? AND dedup_id = ?",
                [(topic.id, dedup_id) for _, _, dedup_id in rows[:expired] if dedup_id is not None],
            )
            # The partition may now be empty: remember its next offset so it is never reused.
            txn.conn.execute(
                "UPDATE partitions SET next_offset_floor = ? WHERE topic_id = ? AND partition_no = ?",
                (topic.next[partition], topic.id, partition),
            )
            pending.starts.setdefault(topic.name, {})[partition] = bound
            budget -= expired
        return more

    # --- on the event loop -----------------------------------------------------------------

    def _publish(self, pending: _Pending) -> None:
        """Brings the views up to date after a commit and wakes the consumers waiting on them."""
        for topic in pending.topics.values():
            if topic.name not in self._views:
                self._views[topic.name] = TopicView(
                    topic.id,
                    topic.name,
                    topic.partitions,
                    topic.bases,
                    [0] * topic.partitions,
                    [0] * topic.partitions,
                )
        for name, appended in pending.appended.items():
            self._views[name].remember(appended)
        for topic, nexts in pending.next.values():
            view = self._views[topic.name]
            view.ends = list(nexts)
            view.notify()
        for name, starts in pending.starts.items():
            view = self._views[name]
            for partition, start in starts.items():
                view.starts[partition] = max(view.starts[partition], start)
                tail = view.tails[partition]
                while tail and tail[0][1] < view.starts[partition]:
                    tail.popleft()  # retention deleted it: the tail never serves what the file lost


# --- on the reader thread ------------------------------------------------------------------


def _read_ranges(
    topic: str, ranges: tuple[tuple[int, int, int, int], ...], conn: sqlite3.Connection
) -> dict[int, list[StoredMessage]]:
    """Reads (partition, base, from_offset, limit) ranges."""
    out: dict[int, list[StoredMessage]] = {}
    for partition, base, from_offset, limit in ranges:
        rows = conn.execute(_READ_RANGE, (base, base + from_offset, base + SPAN, limit)).fetchall()
        if rows:
            out[partition] = [
                StoredMessage(topic, partition, offset, key, value, decode_headers(headers), ts)
                for offset, ts, key, value, headers in rows
            ]
    return out


def _has_dedup(topic_id: int, dedup_id: str, conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM dedup WHERE topic_id = ? AND dedup_id = ?", (topic_id, dedup_id)
    ).fetchone()
    return row is not None


def _committed(group: str, topic_id: int, conn: sqlite3.Connection) -> dict[int, int]:
    return dict(
        conn.execute(
            "SELECT partition_no, next_offset FROM group_offsets WHERE group_id = ? AND topic_id = ?",
            (group, topic_id),
        ).fetchall()
    )


def _store_committed(rows: list[tuple[str, int, int, int]], txn: Txn) -> None:
    txn.conn.executemany(_UPSERT_COMMITTED, rows)


def _dedup_ids(messages: Sequence[Message]) -> bytes | None:
    """The dedup ids of the messages as one JSON array (the writer's one query), None if none."""
    ids = [message.dedup_id for message in messages if message.dedup_id is not None]
    return orjson.dumps(ids) if ids else None


def _check_partitions(partitions: int) -> None:
    if not 1 <= partitions <= MAX_PARTITIONS:
        raise ValueError(f"a topic has 1 to {MAX_PARTITIONS} partitions, not {partitions}")
