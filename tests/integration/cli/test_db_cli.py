"""``lienthong db migrate`` and ``lienthong audit verify`` on the shared state database."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import asyncpg
import pytest

from adapters.audit.keys import ChainKey, KeyRing
from adapters.state import PostgresStateStore
from adapters.state.migrations import VERSIONS
from adapters.state.postgres_audit import PostgresAuditLog
from router.audit import admin_action
from tests.support.bus import BusConfig
from tests.support.cli import lienthong
from tests.support.postgres import fresh_database

pytestmark = pytest.mark.postgres

SUBJECT_KEY = "db cli test subject key, thirty-two characters or more"
CHAIN_KEY = "db cli test chain key, thirty-two characters or more"


def configured(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    dsn = fresh_database()
    path = BusConfig(tmp_path, sections={"state": {"postgres": {"dsn_env": "TEST_STATE_DSN"}}}).write()
    env = {
        **os.environ,
        "TEST_STATE_DSN": dsn,
        "LIENTHONG_AUDIT_KEY": SUBJECT_KEY,
        "LIENTHONG_AUDIT_CHAIN_KEY": CHAIN_KEY,
    }
    return path, env


def test_migrate_applies_the_schema_once(tmp_path: Path) -> None:
    path, env = configured(tmp_path)
    first = lienthong("db", "migrate", "--config", str(path), env=env)
    assert first.returncode == 0, first.stderr
    every = ", ".join(str(version) for version, _ in VERSIONS)
    assert first.stdout.startswith(f"applied: {every};")
    again = lienthong("db", "migrate", "--config", str(path), env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"applied: none (up to date); the database holds versions {every}")


def test_migrate_names_an_unreachable_database_without_its_password(tmp_path: Path) -> None:
    path, env = configured(tmp_path)
    env["TEST_STATE_DSN"] = "postgresql://bus:s3cret@127.0.0.1:1/lienthong"
    refused = lienthong("db", "migrate", "--config", str(path), env=env)
    assert refused.returncode == 2
    assert "cannot reach the state database" in refused.stderr
    assert "s3cret" not in refused.stderr + refused.stdout


def test_audit_verify_walks_the_shared_chain_and_names_a_changed_record(tmp_path: Path) -> None:
    path, env = configured(tmp_path)

    async def write_then_tamper() -> None:
        store = PostgresStateStore(env["TEST_STATE_DSN"])
        await store.start()
        log = PostgresAuditLog(store, SUBJECT_KEY.encode(), KeyRing(ChainKey(CHAIN_KEY.encode())))
        await log.start()
        await log.record(
            [admin_action(f"r{n}", "000.00.00.H49/motcua", "canbo", "replay", "done") for n in range(4)]
        )
        await log.close()
        await store.close()

    asyncio.run(write_then_tamper())
    intact = lienthong("audit", "verify", "--config", str(path), env=env)
    assert intact.returncode == 0, intact.stdout + intact.stderr
    assert "4 records, chain intact" in intact.stdout

    async def tamper() -> None:
        conn = await asyncpg.connect(env["TEST_STATE_DSN"])
        try:
            await conn.execute("UPDATE access_records SET official = 'someone else' WHERE seq = 2")
        finally:
            await conn.close()

    asyncio.run(tamper())
    broken = lienthong("audit", "verify", "--config", str(path), env=env)
    assert broken.returncode == 1
    assert "record 2:" in broken.stdout
