"""psycopg 3 (async, with psycopg_pool) against asyncpg, on the shared state store's own statements.

Run: ``.venv/bin/python -m bench.state_drivers [--ops N] [--concurrency C]`` with
LIENTHONG_POSTGRES_DSN naming a server (unset: a throwaway cluster, tests/support/postgres.py).
asyncpg is the project's driver, chosen on these figures; psycopg is in the ``bench`` extra only.

Three workloads at the publish API's concurrency, each through a pool of 10 connections:

- ``claim``: the publish dedup claim, ``INSERT ... ON CONFLICT DO NOTHING RETURNING``, then the
  confirmation ``UPDATE`` naming where the event landed (two statements, autocommit);
- ``duplicate``: the claim of an id already held (the second process's answer);
- ``audit``: one audit append: a transaction that locks the chain head (``SELECT ... FOR UPDATE``),
  inserts the record and moves the head.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from psycopg_pool import AsyncConnectionPool

from tests.support.postgres import fresh_database

SCHEMA = """
CREATE TABLE dedup (topic text, dedup_id text, claimed_at timestamptz NOT NULL DEFAULT now(),
  partition_no int, offset_no bigint, PRIMARY KEY (topic, dedup_id));
CREATE TABLE head (id int PRIMARY KEY, seq bigint NOT NULL, hash text NOT NULL);
INSERT INTO head VALUES (1, 0, '');
CREATE TABLE records (seq bigint PRIMARY KEY, subject_hash text, body text, hash text);
"""
CLAIM = "INSERT INTO dedup (topic, dedup_id) VALUES ({0}, {1}) ON CONFLICT DO NOTHING RETURNING dedup_id"
CONFIRM = "UPDATE dedup SET partition_no = {0}, offset_no = {1} WHERE topic = {2} AND dedup_id = {3}"
HEAD = "SELECT seq, hash FROM head WHERE id = 1 FOR UPDATE"
INSERT = "INSERT INTO records VALUES ({0}, {1}, {2}, {3})"
MOVE = "UPDATE head SET seq = {0}, hash = {1} WHERE id = 1"


def psycopg_text(sql: str) -> str:
    return sql.format(*["%s"] * 4)


def asyncpg_text(sql: str) -> str:
    return sql.format("$1", "$2", "$3", "$4")


async def timed(ops: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    counter = iter(range(ops))

    async def worker() -> None:
        for n in counter:
            await one(n)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ops / (time.perf_counter() - started)


async def with_psycopg(dsn: str, ops: int, concurrency: int, run: str) -> dict[str, float]:
    pool = AsyncConnectionPool(dsn, min_size=10, max_size=10, open=False, kwargs={"autocommit": True})
    await pool.open(wait=True)
    try:

        async def claim(n: int) -> None:
            async with pool.connection() as conn:
                cur = await conn.execute(psycopg_text(CLAIM), ("inbound", f"{run}/{n}"))
                if await cur.fetchone() is not None:
                    await conn.execute(psycopg_text(CONFIRM), (n % 8, n, "inbound", f"{run}/{n}"))

        async def duplicate(n: int) -> None:
            async with pool.connection() as conn:
                await conn.execute(psycopg_text(CLAIM), ("inbound", f"{run}/{n}"))

        async def audit(n: int) -> None:
            async with pool.connection() as conn, conn.transaction():
                cur = await conn.execute(HEAD)
                row = await cur.fetchone()
                assert row is not None
                seq = int(row[0]) + 1
                digest = uuid.uuid4().hex
                await conn.execute(psycopg_text(INSERT), (seq, f"s{n % 1000}", "x" * 200, digest))
                await conn.execute(psycopg_text(MOVE), (seq, digest))

        return {
            "claim": await timed(ops, concurrency, claim),
            "duplicate": await timed(ops, concurrency, duplicate),
            "audit": await timed(ops, concurrency, audit),
        }
    finally:
        await pool.close()


async def with_asyncpg(dsn: str, ops: int, concurrency: int, run: str) -> dict[str, float]:
    pool: Any = await asyncpg.create_pool(dsn, min_size=10, max_size=10)
    try:

        async def claim(n: int) -> None:
            async with pool.acquire() as conn:
                if await conn.fetchval(asyncpg_text(CLAIM), "inbound", f"{run}/{n}") is not None:
                    await conn.execute(asyncpg_text(CONFIRM), n % 8, n, "inbound", f"{run}/{n}")

        async def duplicate(n: int) -> None:
            async with pool.acquire() as conn:
                await conn.fetchval(asyncpg_text(CLAIM), "inbound", f"{run}/{n}")

        async def audit(n: int) -> None:
            async with pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(HEAD)
                seq = int(row[0]) + 1
                digest = uuid.uuid4().hex
                await conn.execute(asyncpg_text(INSERT), seq, f"s{n % 1000}", "x" * 200, digest)
                await conn.execute(asyncpg_text(MOVE), seq, digest)

        return {
            "claim": await timed(ops, concurrency, claim),
            "duplicate": await timed(ops, concurrency, duplicate),
            "audit": await timed(ops, concurrency, audit),
        }
    finally:
        await pool.close()


async def main(ops: int, concurrency: int) -> None:
    for name, run in (("psycopg", with_psycopg), ("asyncpg", with_asyncpg)) * 2:
        dsn = fresh_database()
        pool = AsyncConnectionPool(dsn, min_size=1, max_size=1, open=False, kwargs={"autocommit": True})
        await pool.open()
        async with pool.connection() as conn:
            await conn.execute(SCHEMA)
        await pool.close()
        rates = await run(dsn, ops, concurrency, uuid.uuid4().hex)
        print(f"{name:8} " + "  ".join(f"{key} {rate:,.0f}/s" for key, rate in rates.items()), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.ops, arguments.concurrency))
