"""PostgresDeadLetters: :class:`router.ports.DeadLetterStore` in the shared state database, so that
the dead letters a process made are listed, replayed and purged through any process of the bus,
and outlive it. The same semantics as the embedded store (:mod:`adapters.embedded.deadletters`),
whose header encoding it reuses for the copy of each letter's message."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from adapters.embedded.codec import decode_headers
from adapters.embedded.deadletters import letter_row
from adapters.state.postgres import PostgresStateStore
from router.ports import DeadLetter, DeadLetterQuery, NewDeadLetter, StoredMessage, TransportError
from router.state import StateUnavailable

MAX_LIST = 10_000
MAX_ID = (1 << 63) - 1

_COLUMNS = (
    "id, subscription, event_id, subject, reason, attempts, last_error, failed_at_ms, replayed_at_ms,"
    " topic, partition_no, offset_no, msg_key, msg_value, msg_headers, msg_ts"
)
_INSERT = (
    "INSERT INTO dead_letters (subscription, event_id, subject, reason, attempts, last_error,"
    " failed_at_ms, topic, partition_no, offset_no, msg_key, msg_value, msg_headers, msg_ts)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING"
)

# The purge and, in the same statement, the subjects it left with no letter not replayed: their
# holds end (dead_letter_purges). The outer query sees the table as it was before the DELETE, so
# the purged letters are left out of the check by id, and max(id) counts them.
_PURGE = """
WITH gone AS (DELETE FROM dead_letters WHERE id = ANY($1::bigint[]) RETURNING subscription, subject),
touched AS (SELECT DISTINCT subscription, subject FROM gone)
INSERT INTO dead_letter_purges AS p (subscription, subject, through_id)
SELECT t.subscription, t.subject, (SELECT coalesce(max(id), 0) FROM dead_letters)
FROM touched t
WHERE NOT EXISTS (
    SELECT 1 FROM dead_letters d
    WHERE d.subscription = t.subscription AND d.subject = t.subject AND d.replayed_at_ms IS NULL
      AND d.id <> ALL($1::bigint[]))
ON CONFLICT (subscription, subject) DO UPDATE SET through_id = greatest(p.through_id, excluded.through_id)
"""
_PURGED_HOLDS = """
SELECT p.subject FROM dead_letter_purges p
WHERE p.subscription = $1 AND p.subject = ANY($2::text[])
  AND NOT EXISTS (
    SELECT 1 FROM dead_letters d
    WHERE d.subscription = p.subscription AND d.subject = p.subject
      AND (d.id > p.through_id OR d.replayed_at_ms IS NULL))
"""


class PostgresDeadLetters:
    """The dead letters of every subscription of every process; ``store`` started by its owner.
    The database out of reach raises :class:`~router.ports.TransportError`, as a full disk does for
    the embedded store: a delivery then keeps its batch uncommitted and tries again."""

    def __init__(self, store: PostgresStateStore) -> None:
        self._store = store

    async def _run(self, query: str, *args: Any, fetch: bool = False) -> list[Any]:
        try:
            async with self._store.connection() as conn:
                if fetch:
                    return list(await conn.fetch(query, *args))
                await conn.execute(query, *args)
                return []
        except StateUnavailable as error:
            raise TransportError(error.detail) from None

    async def add(self, letters: Sequence[NewDeadLetter]) -> None:
        if not letters:
            return
        failed_at = int(time.time() * 1000)
        rows = [letter_row(letter, failed_at) for letter in letters]
        try:
            async with self._store.connection() as conn, conn.transaction():
                await conn.executemany(_INSERT, rows)
        except StateUnavailable as error:
            raise TransportError(error.detail) from None

    async def list(self, query: DeadLetterQuery) -> list[DeadLetter]:
        limit = min(query.limit, MAX_LIST)
        if limit <= 0:
            return []
        params: list[Any] = [min(query.after_id, MAX_ID)]
        where = ["id > $1"]
        if query.subscription is not None:
            params.append(query.subscription)
            where.append(f"subscription = ${len(params)}")
        if query.subject is not None:
            params.append(query.subject)
            where.append(f"subject = ${len(params)}")
        if query.ids:
            ids = [i for i in query.ids if 0 < i <= MAX_ID]
            if not ids:  # never drop the filter: ids that name no letter select none
                return []
            params.append(ids)
            where.append(f"id = ANY(${len(params)}::bigint[])")
        if not query.include_replayed:
            where.append("replayed_at_ms IS NULL")
        params.append(limit)
        sql = f"SELECT {_COLUMNS} FROM dead_letters WHERE {' AND '.join(where)} ORDER BY id LIMIT ${len(params)}"  # noqa: S608 (fixed fragments only)
        return [_letter(row) for row in await self._run(sql, *params, fetch=True)]

    async def mark_replayed(self, ids: Sequence[int]) -> None:
        if ids:
            await self._run(
                "UPDATE dead_letters SET replayed_at_ms = $1 WHERE id = ANY($2::bigint[]) AND replayed_at_ms IS NULL",
                int(time.time() * 1000),
                [i for i in ids if 0 < i <= MAX_ID],
            )

    async def purge(self, ids: Sequence[int]) -> None:
        if ids:
            await self._run(_PURGE, [i for i in ids if 0 < i <= MAX_ID])

    async def purged_holds(self, subscription: str, subjects: Sequence[str]) -> frozenset[str]:
        if not subjects:
            return frozenset()
        rows = await self._run(_PURGED_HOLDS, subscription, list(subjects), fetch=True)
        return frozenset(str(row[0]) for row in rows)

    async def held_subjects(self, subscription: str) -> frozenset[str]:
        rows = await self._run(
            "SELECT DISTINCT subject FROM dead_letters WHERE subscription = $1 AND replayed_at_ms IS NULL",
            subscription,
            fetch=True,
        )
        return frozenset(str(row[0]) for row in rows)

    async def count(self, subscription: str) -> int:
        rows = await self._run(
            "SELECT count(*) FROM dead_letters WHERE subscription = $1 AND replayed_at_ms IS NULL",
            subscription,
            fetch=True,
        )
        return int(rows[0][0])


def _letter(row: Any) -> DeadLetter:
    message = StoredMessage(
        row["topic"],
        row["partition_no"],
        row["offset_no"],
        row["msg_key"],
        bytes(row["msg_value"]),
        decode_headers(bytes(row["msg_headers"])),
        row["msg_ts"],
    )
    return DeadLetter(
        id=row["id"],
        subscription=row["subscription"],
        event_id=row["event_id"],
        subject=row["subject"],
        reason=row["reason"],
        attempts=row["attempts"],
        last_error=row["last_error"],
        failed_at_ms=row["failed_at_ms"],
        message=message,
        replayed_at_ms=row["replayed_at_ms"],
    )
