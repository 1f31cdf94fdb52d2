"""EmbeddedDeadLetters: :class:`router.ports.DeadLetterStore` in the log's own SQLite file.

It shares the log's writer and reader threads, so one file holds everything and a dead letter is
group-committed with the offset commit that skips its message. A letter keeps a copy of its
message: retention of the log does not take dead letters with it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import partial
from typing import Any

import orjson

from adapters.embedded.codec import decode_headers, encode_headers
from adapters.embedded.log import EmbeddedLog, now_ms
from adapters.embedded.writer import Txn
from router.ports import DeadLetter, DeadLetterQuery, NewDeadLetter, StoredMessage

MAX_LIST = 10_000
MAX_ID = (1 << 63) - 1  # SQLite's largest integer

_COLUMNS = (
    "id, subscription, event_id, subject, reason, attempts, last_error, failed_at_ms, replayed_at_ms,"
    " topic, partition_no, offset_no, msg_key, msg_value, msg_headers, msg_ts"
)
# OR IGNORE: the unique (subscription, event_id, topic, partition, offset) makes adding twice a no-op,
# which is what a delivery worker that crashed after dead-lettering and retried needs.
_INSERT = (
    "INSERT OR IGNORE INTO dead_letters (subscription, event_id, subject, reason, attempts, last_error,"
    " failed_at_ms, topic, partition_no, offset_no, msg_key, msg_value, msg_headers, msg_ts)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

# A subject the purge left with no letter at all, replayed or not, has its hold ended
# (dead_letter_purges). A replayed letter kept means its copy may still be on its way: the copy
# lifts the hold when it comes, in queue order, and an event queued before it is still held.
_RECORD_PURGE = (
    "INSERT INTO dead_letter_purges (subscription, subject, through_id) SELECT ?1, ?2, ?3"
    " WHERE NOT EXISTS (SELECT 1 FROM dead_letters WHERE subscription = ?1 AND subject = ?2)"
    " ON CONFLICT (subscription, subject) DO UPDATE SET through_id = max(through_id, excluded.through_id)"
)
# A letter of a subject makes its purge record moot (the subject is held again): the record goes
_FORGET_PURGE = "DELETE FROM dead_letter_purges WHERE subscription = ? AND subject = ?"
# Subjects whose hold a purge ended, no letter of theirs made since
_PURGED_HOLDS = (
    "SELECT p.subject FROM dead_letter_purges p WHERE p.subscription = ?1"
    " AND p.subject IN (SELECT value FROM json_each(?2))"
    " AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.subscription = p.subscription"
    " AND d.subject = p.subject)"
)


class EmbeddedDeadLetters:
    """The dead letters of every subscription; ``log`` must be started before use."""

    def __init__(self, log: EmbeddedLog) -> None:
        self._log = log

    async def add(self, letters: Sequence[NewDeadLetter]) -> None:
        if not letters:
            return
        failed_at = now_ms()
        rows = [letter_row(letter, failed_at) for letter in letters]
        await self._log.run_in_writer(partial(_insert, rows))

    async def list(self, query: DeadLetterQuery) -> list[DeadLetter]:
        """Letters in id order after ``query.after_id``, filtered as the query says."""
        limit = min(query.limit, MAX_LIST)
        if limit <= 0:
            return []
        where = ["id > ?"]
        # ids past SQLite's 64 bits name no letter, and would not bind
        params: list[object] = [min(query.after_id, MAX_ID)]
        if query.subscription is not None:
            where.append("subscription = ?")
            params.append(query.subscription)
        if query.subject is not None:
            where.append("subject = ?")
            params.append(query.subject)
        if query.ids:
            ids = [i for i in query.ids if 0 < i <= MAX_ID]
            if not ids:  # never drop the filter: ids that name no letter select none
                return []
            where.append("id IN (SELECT value FROM json_each(?))")
            params.append(orjson.dumps(ids))
        if not query.include_replayed:
            where.append("replayed_at_ms IS NULL")
        sql = f"SELECT {_COLUMNS} FROM dead_letters WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"  # noqa: S608 (fixed fragments only)
        params.append(limit)
        rows = await self._log.run_in_reader(lambda conn: conn.execute(sql, params).fetchall())
        return [_letter(row) for row in rows]

    async def mark_replayed(self, ids: Sequence[int]) -> None:
        """Marks letters replayed (those already marked keep their first replay time)."""
        if ids:
            await self._log.run_in_writer(partial(_mark_replayed, orjson.dumps(list(ids)), now_ms()))

    async def purge(self, ids: Sequence[int]) -> None:
        if ids:
            await self._log.run_in_writer(partial(_purge, orjson.dumps(list(ids))))

    async def purged_holds(self, subscription: str, subjects: Sequence[str]) -> frozenset[str]:
        if not subjects:
            return frozenset()
        wanted = orjson.dumps(list(subjects))
        rows = await self._log.run_in_reader(
            lambda conn: conn.execute(_PURGED_HOLDS, (subscription, wanted)).fetchall()
        )
        return frozenset(subject for (subject,) in rows)

    async def held_subjects(self, subscription: str) -> frozenset[str]:
        rows = await self._log.run_in_reader(
            lambda conn: conn.execute(
                "SELECT DISTINCT subject FROM dead_letters WHERE subscription = ? AND replayed_at_ms IS NULL",
                (subscription,),
            ).fetchall()
        )
        return frozenset(subject for (subject,) in rows)

    async def count(self, subscription: str) -> int:
        def count(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT count(*) FROM dead_letters WHERE subscription = ? AND replayed_at_ms IS NULL",
                (subscription,),
            ).fetchone()
            return int(row[0])

        return await self._log.run_in_reader(count)


def _insert(rows: Sequence[tuple[object, ...]], txn: Txn) -> None:
    txn.conn.executemany(_INSERT, rows)
    txn.conn.executemany(_FORGET_PURGE, {(row[0], row[2]) for row in rows})


def _mark_replayed(ids: bytes, at_ms: int, txn: Txn) -> None:
    txn.conn.execute(
        "UPDATE dead_letters SET replayed_at_ms = ?"
        " WHERE id IN (SELECT value FROM json_each(?)) AND replayed_at_ms IS NULL",
        (at_ms, ids),
    )


def _purge(ids: bytes, txn: Txn) -> None:
    conn = txn.conn
    touched = conn.execute(
        "SELECT DISTINCT subscription, subject FROM dead_letters WHERE id IN (SELECT value FROM json_each(?))",
        (ids,),
    ).fetchall()
    (through,) = conn.execute("SELECT coalesce(max(id), 0) FROM dead_letters").fetchone()
    conn.execute("DELETE FROM dead_letters WHERE id IN (SELECT value FROM json_each(?))", (ids,))
    conn.executemany(_RECORD_PURGE, [(subscription, subject, through) for subscription, subject in touched])


def _letter(row: Any) -> DeadLetter:
    (
        letter_id,
        subscription,
        event_id,
        subject,
        reason,
        attempts,
        last_error,
        failed_at_ms,
        replayed_at_ms,
        topic,
        partition,
        offset,
        key,
        value,
        headers,
        timestamp_ms,
    ) = row
    message = StoredMessage(topic, partition, offset, key, value, decode_headers(headers), timestamp_ms)
    return DeadLetter(
        id=letter_id,
        subscription=subscription,
        event_id=event_id,
        subject=subject,
        reason=reason,
        attempts=attempts,
        last_error=last_error,
        failed_at_ms=failed_at_ms,
        message=message,
        replayed_at_ms=replayed_at_ms,
    )


def letter_row(letter: NewDeadLetter, failed_at_ms: int) -> tuple[object, ...]:
    """A new letter as the column values every dead-letter table stores, in their order:
    subscription, event id, subject, reason, attempts, last error, failed at, and the message."""
    return (
        letter.subscription,
        letter.event_id,
        letter.subject,
        letter.reason,
        letter.attempts,
        letter.last_error,
        failed_at_ms,
        letter.message.topic,
        letter.message.partition,
        letter.message.offset,
        letter.message.key,
        letter.message.value,
        encode_headers(letter.message.headers),
        letter.message.timestamp_ms,
    )
