"""PostgresRevocations: :class:`router.state.SessionRevocations` in the shared state database, so
that a console sign-out through one process is refused by every process. Each revocation also
deletes the rows of sessions that have expired since (they would be refused as expired anyway),
which keeps the table to the sessions of one time-to-live."""

from __future__ import annotations

import time

from adapters.state.postgres import PostgresStateStore


class PostgresRevocations:
    def __init__(self, store: PostgresStateStore) -> None:
        self._store = store

    async def revoke(self, session_id: str, expires_at: float) -> None:
        async with self._store.connection() as conn, conn.transaction():
            await conn.execute("DELETE FROM console_revocations WHERE expires_at <= $1", time.time())
            await conn.execute(
                "INSERT INTO console_revocations (session_id, expires_at) VALUES ($1, $2)"
                " ON CONFLICT (session_id) DO NOTHING",
                session_id,
                expires_at,
            )

    async def revoked(self, session_id: str) -> bool:
        async with self._store.connection() as conn:
            found = await conn.fetchval("SELECT 1 FROM console_revocations WHERE session_id = $1", session_id)
        return found is not None
