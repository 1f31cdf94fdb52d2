"""Two processes of a bus on the shared state (two portal connectors over one PostgreSQL
database) and the portal simulator on loopback: a reconciliation in one that read a dossier before
the other applied an event to it neither writes its stale copy back nor sends it to the portal."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from adapters.state.postgres import PostgresStateStore
from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.portal import protocol
from connectors.portal.connector import PortalConnector
from connectors.portal.connector import from_settings as portal
from connectors.portal.sync import DossierEvent
from router.providers import CallPolicy
from simulators.portal import create_app, portal_of
from simulators.server import SimulatorServer
from tests.support.portal import AGENCY, PASSWORD_ENV, USER_ENV, code, status_changed, submitted
from tests.support.postgres import fresh_database

pytestmark = pytest.mark.postgres

FAST = CallPolicy(timeout_s=5, deadline_s=10, max_attempts=1)


def dossier_event(cloud_event: dict[str, Any]) -> DossierEvent:
    data = cloud_event["data"]
    return DossierEvent(cloud_event["id"], cloud_event["type"], data["dossierCode"], data, time.time())


@asynccontextmanager
async def processes(url: str, tmp_path: Path, count: int) -> AsyncIterator[list[PortalConnector]]:
    """``count`` portal connectors as ``count`` processes of one bus open them: each with its own
    connection pool to the same shared database."""
    dsn = fresh_database()
    async with AsyncExitStack() as stack:
        connectors: list[PortalConnector] = []
        for n in range(count):
            store = PostgresStateStore(dsn, pool_size=2)
            await store.start()
            stack.push_async_callback(store.close)
            settings = ConnectorSettings(
                name="portal",
                kind="portal",
                url=url,
                call_policy=FAST,
                options={"agency_code": AGENCY, "username_env": USER_ENV, "password_env": PASSWORD_ENV},
            )
            deps = ConnectorDeps(CollectorRegistry(), tmp_path / f"process-{n}", shared_state=store)
            connector = portal(settings, deps)
            assert isinstance(connector, PortalConnector)
            await connector.open()
            stack.push_async_callback(connector.aclose)
            connectors.append(connector)
        yield connectors


async def test_a_reconcile_racing_an_event_leaves_the_newer_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(USER_ENV, "lienthong")
    monkeypatch.setenv(PASSWORD_ENV, "demo-password")
    app, simulator_state = create_app()
    server = SimulatorServer(app).start()
    try:
        simulated = portal_of(simulator_state)
        async with processes(server.url, tmp_path, 2) as (owner, other):
            for cloud_event in (submitted(0), status_changed(0, 1, 2), status_changed(0, 2, 4)):
                await owner.sync.apply(dossier_event(cloud_event))
            assert simulated.store.dossiers[code(0)]["TrangThaiHoSo"] == "4"

            # the other process's reconciliation has read the dossier at 4; while it asks the
            # portal for its copy, the owner applies the move to 5
            client = other.sync.client
            ask = client.call
            moved = dossier_event(status_changed(0, 3, 5))

            async def call_after_the_move(operation: str, body: dict[str, Any]) -> Any:
                if operation == protocol.LOOKUP and not await owner.sync.store.was_applied(moved.id):
                    await owner.sync.apply(moved)
                return await ask(operation, body)

            monkeypatch.setattr(client, "call", call_after_the_move)
            report = await other.sync.reconcile()

            state = await other.sync.store.get(code(0))
            assert state is not None and state.status == 5 and state.in_sync
            assert simulated.store.dossiers[code(0)]["TrangThaiHoSo"] == "5"
            assert (report.checked, report.skipped, len(report.drifted)) == (1, 1, 0)

            # the next round, with nothing racing it, finds the portal in sync
            again = await other.sync.reconcile()
            assert (again.checked, again.in_sync, again.skipped) == (1, 1, 0)
    finally:
        server.stop()
