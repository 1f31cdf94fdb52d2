"""PostgresCatalogue: :class:`adapters.state.catalogue.CatalogueRows` in the shared state database,
one portal connector's catalogue (its name in every key): every process of the bus reads the
same procedures, and a sync through any of them is seen by all."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from adapters.state.catalogue import EntryRow
from adapters.state.postgres import PostgresStateStore


class PostgresCatalogue:
    def __init__(self, store: PostgresStateStore, connector: str) -> None:
        self._store = store
        self.connector = connector

    async def open(self) -> None:
        """Nothing to open: the store's owner started it."""

    async def close(self) -> None:
        """Nothing to close: the store's owner closes it."""

    async def digests(self) -> dict[str, tuple[str, bool]]:
        async with self._store.connection() as conn:
            rows = await conn.fetch(
                "SELECT code, digest, gone_since IS NOT NULL FROM portal_catalogue_procedure WHERE connector = $1",
                self.connector,
            )
        return {str(code): (str(value), bool(gone)) for code, value, gone in rows}

    async def apply(
        self,
        procedures: Sequence[EntryRow],
        withdrawn: Collection[str],
        returned: Collection[str],
        registers: Mapping[str, Sequence[EntryRow]],
        report: bytes,
        now: float,
    ) -> dict[str, int]:
        name = self.connector
        changed: dict[str, int] = {}
        async with self._store.connection() as conn, conn.transaction():
            # one sync at a time per connector, whichever process runs it
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('portal_catalogue:' || $1))", name)
            await conn.executemany(
                "INSERT INTO portal_catalogue_procedure (connector, code, entry, digest, synced_at, gone_since)"
                " VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT (connector, code) DO UPDATE SET"
                " entry = excluded.entry, digest = excluded.digest, synced_at = excluded.synced_at, gone_since = NULL",
                [(name, row.code, row.entry, row.digest, now) for row in procedures],
            )
            await conn.execute(
                "UPDATE portal_catalogue_procedure SET gone_since = $2 WHERE connector = $1 AND code = ANY($3::text[])",
                name,
                now,
                list(withdrawn),
            )
            await conn.execute(
                "UPDATE portal_catalogue_procedure SET gone_since = NULL WHERE connector = $1 AND code = ANY($2::text[])",
                name,
                list(returned),
            )
            for kind, items in registers.items():
                known = {
                    str(code): (str(value), bool(gone))
                    for code, value, gone in await conn.fetch(
                        "SELECT code, digest, gone_since IS NOT NULL FROM portal_catalogue_register"
                        " WHERE connector = $1 AND kind = $2",
                        name,
                        kind,
                    )
                }
                fresh = [row for row in items if known.get(row.code) != (row.digest, False)]
                await conn.executemany(
                    "INSERT INTO portal_catalogue_register (connector, kind, code, entry, digest, gone_since)"
                    " VALUES ($1, $2, $3, $4, $5, NULL) ON CONFLICT (connector, kind, code) DO UPDATE SET"
                    " entry = excluded.entry, digest = excluded.digest, gone_since = NULL",
                    [(name, kind, row.code, row.entry, row.digest) for row in fresh],
                )
                listed = {row.code for row in items}
                gone = [code for code, (_, was_gone) in known.items() if code not in listed and not was_gone]
                await conn.execute(
                    "UPDATE portal_catalogue_register SET gone_since = $3"
                    " WHERE connector = $1 AND kind = $2 AND code = ANY($4::text[])",
                    name,
                    kind,
                    now,
                    gone,
                )
                changed[kind] = len(fresh) + len(gone)
            await conn.execute(
                "INSERT INTO portal_catalogue_last_sync (connector, at) VALUES ($1, $2)"
                " ON CONFLICT (connector) DO UPDATE SET at = excluded.at",
                name,
                now,
            )
            if procedures or withdrawn or returned or any(changed.values()):
                await conn.execute(
                    "INSERT INTO portal_catalogue_sync_run (connector, at, report) VALUES ($1, $2, $3)",
                    name,
                    now,
                    report,
                )
        return changed

    async def last_sync(self) -> float | None:
        async with self._store.connection() as conn:
            at = await conn.fetchval(
                "SELECT at FROM portal_catalogue_last_sync WHERE connector = $1", self.connector
            )
        return None if at is None else float(at)

    async def procedures(self, withdrawn: bool) -> list[bytes]:
        where = "" if withdrawn else " AND gone_since IS NULL"
        async with self._store.connection() as conn:
            rows = await conn.fetch(
                f"SELECT entry FROM portal_catalogue_procedure WHERE connector = $1{where}"  # noqa: S608
                ' ORDER BY code COLLATE "C"',
                self.connector,
            )
        return [bytes(row[0]) for row in rows]

    async def counts(self) -> dict[str, int]:
        async with self._store.connection() as conn:
            listed, gone = await conn.fetchrow(
                "SELECT count(*) FILTER (WHERE gone_since IS NULL), count(*) FILTER (WHERE gone_since IS NOT NULL)"
                " FROM portal_catalogue_procedure WHERE connector = $1",
                self.connector,
            )
        return {"listed": int(listed), "withdrawn": int(gone)}
