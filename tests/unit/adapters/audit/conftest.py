"""Fixtures for the audit store: real SQLite files in a temporary directory, closed after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from adapters.audit import AuditMetrics, SqliteAuditLog
from adapters.audit.keys import KeyRing, chain_key_source
from router.audit import AccessRecord

KEY = b"a test key of at least thirty-two bytes"
CITIZEN = "001099012345"
OTHER = "001099012346"
ONESTOP = "000.00.00.H49/motcua"

MakeStore = Callable[..., Awaitable[SqliteAuditLog]]


def access(
    n: int = 0, *, subject: str = CITIZEN, requester: str = ONESTOP, outcome: str = "released"
) -> AccessRecord:
    return AccessRecord(
        request_id=f"req-{n}",
        requester=requester,
        official="canbo.01",
        dataset="citizen.identity",
        subject=subject,
        purpose="dossier_processing",
        procedure="1.002861",
        dossier="000.00.00.H49-261127-0001",
        outcome=outcome,
        provider="population",
    )


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def ring_of(database: Path) -> KeyRing:
    """The chain keys a store made beside ``database`` (its default)."""
    return chain_key_source(database, "CHAIN_KEY", "RETIRED_CHAIN_KEYS", create=False, environ={})()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
async def make_store(tmp_path: Path, registry: CollectorRegistry) -> AsyncIterator[MakeStore]:
    """Opens (and later closes) a store; by default on the same file and key each time."""
    opened: list[SqliteAuditLog] = []
    metrics = AuditMetrics(registry)  # one per registry, shared by the stores of the test

    async def make(path: Path | None = None, key: bytes = KEY, **options: Any) -> SqliteAuditLog:
        store = SqliteAuditLog(path or tmp_path / "audit.db", key, metrics=metrics, **options)
        opened.append(store)
        await store.start()
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(make_store: MakeStore) -> SqliteAuditLog:
    return await make_store()
