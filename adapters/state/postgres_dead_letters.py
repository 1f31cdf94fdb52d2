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

# Purges of a subscription's letters are serialised: each takes, in one order (the keys sorted,
# so two purges never wait on each other in a circle), a transaction lock on every subscription it
# touches before it deletes. The check is a statement after the delete, whose snapshot sees what
# any earlier purge committed: two purges at once, each of one of a subject's two letters, cannot
# both still see the other's letter. A lock per subscription, not per subject: a purge of 10 000
# letters would take as many locks, past the server's shared lock table, and purges are rare.
_LOCK_SPACE = 0x1D1E  # the first key of the two-key advisory locks of dead-letter subscriptions
_SUBSCRIPTION_KEYS = """
SELECT DISTINCT hashtext(subscription) AS k FROM dead_letters WHERE id = ANY($1::bigint[]) ORDER BY k
"""
_LOCK_SUBSCRIPTIONS = (
    "SELECT pg_advisory_xact_lock($1, k) FROM unnest($2::int[]) WITH ORDINALITY AS t(k, n) ORDER BY n"
)
_DELETE = "DELETE FROM dead_letters WHERE id = ANY($1::bigint[]) RETURNING subscription, subject"
# A subject the purge left with no letter at all, replayed or not, has its hold ended. A replayed
# letter kept means its copy may still be on its way: the copy lifts the hold when it comes, in
# queue order, and an event queued before it is still held. through_id: the highest letter id then.
_RECORD = """
INSERT INTO dead_letter_purges AS p (subscription, subject, through_id)
SELECT t.subscription, t.subject, (SELECT coalesce(max(id), 0) FROM dead_letters)
FROM unnest($1::text[], $2::text[]) AS t(subscription, subject)
WHERE NOT EXISTS (
    SELECT 1 FROM dead_letters d WHERE d.subscription = t.subscription AND d.subject = t.subject)
ON CONFLICT (subscription, subject) DO UPDATE SET through_id = greatest(p.through_id, excluded.through_id)
"""
# A letter of a subject makes its purge record moot (the subject is held again): the record goes
_FORGET_PURGES = """
DELETE FROM dead_letter_purges p USING unnest($1::text[], $2::text[]) AS t(subscription, subject)
WHERE p.subscription = t.subscription AND p.subject = t.subject
"""
# A subject released by a purge while no letter of it exists: any letter there came after the
# purge (the subject failed again), or committed after its check (and holds it still).
_PURGED_HOLDS = """
SELECT p.subject FROM dead_letter_purges p
WHERE p.subscription = $1 AND p.subject = ANY($2::text[])
  AND NOT EXISTS (
    SELECT 1 FROM dead_letters d WHERE d.subscription = p.subscription AND d.subject = p.subject)
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
                subscriptions, subjects = zip(*sorted({(row[0], row[2]) for row in rows}), strict=True)
                await conn.execute(_FORGET_PURGES, list(subscriptions), list(subjects))
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
        wanted = [i for i in ids if 0 < i <= MAX_ID]
        if not wanted:
            return
        try:
            async with self._store.connection() as conn, conn.transaction():
                keys = [row[0] for row in await conn.fetch(_SUBSCRIPTION_KEYS, wanted)]
                await conn.execute(_LOCK_SUBSCRIPTIONS, _LOCK_SPACE, keys)
                touched = {(row[0], row[1]) for row in await conn.fetch(_DELETE, wanted)}
                if touched:
                    subscriptions, subjects = zip(*sorted(touched), strict=True)
                    await conn.execute(_RECORD, list(subscriptions), list(subjects))
        except StateUnavailable as error:
            raise TransportError(error.detail) from None

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
