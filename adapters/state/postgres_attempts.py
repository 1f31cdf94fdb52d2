"""PostgresAttempts: :class:`router.state.CollectionAttempts` in the shared state database, so
that a dossier whose collection is retried through another process (its partition moved) counts
on from where it was, and its partial result goes out when the retry budget says, not later.
Times are the wall clock's (s since the epoch): the processes share no monotonic clock. Rows of
collections left unfinished for a day (their submission dead-lettered) are deleted as others are
counted."""

from __future__ import annotations

from adapters.state.postgres import PostgresStateStore

# a collection not attempted for this long is abandoned: its row goes
ABANDONED_S = 86400.0

_ATTEMPT = """
INSERT INTO evidence_attempts AS a (collector, dossier, attempts, first_at, last_at)
VALUES ($1, $2, 1, $3, $3)
ON CONFLICT (collector, dossier) DO UPDATE SET attempts = a.attempts + 1, last_at = excluded.last_at
RETURNING a.attempts, a.first_at
"""


class PostgresAttempts:
    def __init__(self, store: PostgresStateStore) -> None:
        self._store = store

    async def attempt(self, collector: str, dossier: str, now: float) -> tuple[int, float]:
        async with self._store.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM evidence_attempts WHERE last_at < $1", now - ABANDONED_S)
            row = await conn.fetchrow(_ATTEMPT, collector, dossier, now)
        return int(row[0]), float(row[1])

    async def forget(self, collector: str, dossier: str) -> None:
        async with self._store.connection() as conn:
            await conn.execute(
                "DELETE FROM evidence_attempts WHERE collector = $1 AND dossier = $2", collector, dossier
            )
