"""The transport contract suite runs against every transport: the embedded log and Kafka; the
state store contract suite against every state store: SQLite and PostgreSQL (``state``).

``backend`` opens transports of one kind; each call to ``backend.open()`` makes a new instance on
the same storage (the same SQLite file, the same broker), so restarts can be tested. Topic and group
names are unique per test: the Kafka broker is shared by the whole run.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from adapters.audit import Checkpointing, SqliteAuditLog
from adapters.audit.keys import ChainKey, KeyRing
from adapters.embedded import EmbeddedDeadLetters, EmbeddedLog
from adapters.http.console.sessions import LocalRevocations
from adapters.kafka import KafkaOptions, KafkaTransport
from adapters.state import PostgresStateStore, SqliteStateStore
from adapters.state.catalogue_postgres import PostgresCatalogue
from adapters.state.portal_postgres import PostgresPortalState
from adapters.state.postgres_attempts import PostgresAttempts
from adapters.state.postgres_audit import PostgresAuditLog
from adapters.state.postgres_dead_letters import PostgresDeadLetters
from adapters.state.postgres_revocations import PostgresRevocations
from connectors.portal.catalogue import CatalogueStore
from connectors.portal.state import SyncStateStore
from router.evidence.collection import LocalAttempts
from router.ports import DeadLetterStore, Transport
from router.state import CollectionAttempts, SessionRevocations
from tests.support.kafka import kafka_bootstrap, unique
from tests.support.postgres import fresh_database

SUBJECT_KEY = b"contract subject key, thirty-two bytes or more"
CHAIN_KEYS = KeyRing(ChainKey(b"contract chain key, thirty-two bytes or more"))

PARTITIONS = 4


class Backend:
    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self._path = tmp_path / "log.db"
        self._bootstrap = kafka_bootstrap() if kind == "kafka" else ()
        self.opened: list[Transport] = []

    def name(self, prefix: str) -> str:
        return unique(prefix)

    async def open(self) -> Transport:
        transport: Transport
        if self.kind == "kafka":
            transport = KafkaTransport(
                KafkaOptions(self._bootstrap, default_partitions=PARTITIONS, namespace="contract.")
            )
        else:
            transport = EmbeddedLog(self._path, default_partitions=PARTITIONS, durability="os")
        await transport.start()
        self.opened.append(transport)
        return transport

    async def close_all(self) -> None:
        for transport in self.opened:
            await transport.close()
        self.opened.clear()


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    opened = Backend(request.param, tmp_path)
    yield opened
    await opened.close_all()


class StateBackend:
    """Opens state stores of one kind on the same storage (the same SQLite file, the same
    PostgreSQL database): each store stands for one process of a bus."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        self.dsn = fresh_database() if kind == "postgres" else ""
        self.opened: list[SqliteStateStore | PostgresStateStore] = []
        self.logs: list[SqliteAuditLog | PostgresAuditLog] = []
        self.portal_states: list[SyncStateStore] = []
        self.catalogues: list[CatalogueStore] = []
        self._local_revocations: LocalRevocations | None = None
        self._local_attempts: LocalAttempts | None = None

    def store(self, *, retention_s: float = 3600.0) -> SqliteStateStore | PostgresStateStore:
        """A store not started yet."""
        store: SqliteStateStore | PostgresStateStore
        if self.kind == "postgres":
            store = PostgresStateStore(self.dsn, retention_s=retention_s, pool_size=4)
        else:
            store = SqliteStateStore(self.tmp_path / "state.db", retention_s=retention_s)
        self.opened.append(store)
        return store

    async def started(self, *, retention_s: float = 3600.0) -> SqliteStateStore | PostgresStateStore:
        store = self.store(retention_s=retention_s)
        await store.start()
        return store

    async def audit_log(self, chain_keys: KeyRing = CHAIN_KEYS) -> SqliteAuditLog | PostgresAuditLog:
        """A started audit log of this kind: one SQLite file, or the shared database."""
        log: SqliteAuditLog | PostgresAuditLog
        if self.kind == "postgres":
            store = PostgresStateStore(self.dsn, pool_size=4)
            self.opened.append(store)
            await store.start()
            log = PostgresAuditLog(store, SUBJECT_KEY, chain_keys)
        else:
            path = self.tmp_path / "audit.db"
            log = SqliteAuditLog(
                path, SUBJECT_KEY, chain_keys=chain_keys, checkpoints=Checkpointing.beside(path)
            )
        await log.start()
        self.logs.append(log)
        return log

    async def portal_state(self, connector: str = "portal") -> SyncStateStore:
        """An open portal sync state of this kind, as a process of the bus opens it: a SQLite file
        per connector, or the connector's rows in the shared database."""
        if self.kind == "postgres":
            store = await self.started()
            assert isinstance(store, PostgresStateStore)
            sync = SyncStateStore(PostgresPortalState(store, connector))
        else:
            sync = SyncStateStore.in_file(self.tmp_path / f"portal-{connector}.db")
        await sync.open()
        self.portal_states.append(sync)
        return sync

    async def catalogue(self, connector: str = "portal") -> CatalogueStore:
        """An open portal catalogue of this kind: a SQLite file per connector, or the
        connector's rows in the shared database."""
        if self.kind == "postgres":
            store = await self.started()
            assert isinstance(store, PostgresStateStore)
            catalogue = CatalogueStore(PostgresCatalogue(store, connector))
        else:
            catalogue = CatalogueStore.in_file(self.tmp_path / f"portal-{connector}-catalogue.db")
        await catalogue.open()
        self.catalogues.append(catalogue)
        return catalogue

    async def revocations(self) -> SessionRevocations:
        """Console revocations as a process keeps them: the shared database's, or (a bus of one
        process) the one list in memory."""
        if self.kind == "postgres":
            store = await self.started()
            assert isinstance(store, PostgresStateStore)
            return PostgresRevocations(store)
        if self._local_revocations is None:
            self._local_revocations = LocalRevocations()
        return self._local_revocations

    async def attempts(self) -> CollectionAttempts:
        """Collection attempts as a process keeps them: the shared database's, or (a bus of one
        process) the one count in memory."""
        if self.kind == "postgres":
            store = await self.started()
            assert isinstance(store, PostgresStateStore)
            return PostgresAttempts(store)
        if self._local_attempts is None:
            self._local_attempts = LocalAttempts()
        return self._local_attempts

    async def tamper(self, sql: str) -> None:
        """Runs ``sql`` on the storage behind the store's back, as whoever can write it."""
        if self.kind == "postgres":
            remote = await asyncpg.connect(self.dsn)
            try:
                await remote.execute(sql)
            finally:
                await remote.close()
        else:
            local = sqlite3.connect(self.tmp_path / "audit.db")
            try:
                with local:
                    local.execute(sql)
            finally:
                local.close()

    async def close_all(self) -> None:
        for sync in self.portal_states:
            await sync.close()
        for catalogue in self.catalogues:
            await catalogue.close()
        for log in self.logs:
            await log.close()
        for store in self.opened:
            await store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def state(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[StateBackend]:
    opened = StateBackend(request.param, tmp_path)
    yield opened
    await opened.close_all()


class DeadLetterBackend:
    """Opens dead-letter stores of one kind on the same storage: the embedded log's file, or the
    shared database (another process, or the same one restarted)."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self._path = tmp_path / "log.db"
        self.dsn = fresh_database() if kind == "postgres" else ""
        self._opened: list[EmbeddedLog | PostgresStateStore] = []

    async def open(self) -> DeadLetterStore:
        if self.kind == "postgres":
            store = PostgresStateStore(self.dsn, pool_size=2)
            await store.start()
            self._opened.append(store)
            return PostgresDeadLetters(store)
        log = EmbeddedLog(self._path, durability="os")
        await log.start()
        self._opened.append(log)
        return EmbeddedDeadLetters(log)

    async def purge_records(self) -> list[tuple[str, str]]:
        """The (subscription, subject) of the rows of ``dead_letter_purges``, in order."""
        query = "SELECT subscription, subject FROM dead_letter_purges ORDER BY 1, 2"
        if self.kind == "postgres":
            conn = await asyncpg.connect(self.dsn)
            try:
                return [(row[0], row[1]) for row in await conn.fetch(query)]
            finally:
                await conn.close()
        with contextlib.closing(sqlite3.connect(self._path)) as file:
            return [(row[0], row[1]) for row in file.execute(query)]

    async def close_all(self) -> None:
        for opened in self._opened:
            await opened.close()
        self._opened.clear()


@pytest.fixture(params=["embedded", pytest.param("postgres", marks=pytest.mark.postgres)])
async def dead_letters(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DeadLetterBackend]:
    opened = DeadLetterBackend(request.param, tmp_path)
    yield opened
    await opened.close_all()
