"""The portal session against the portal simulator on loopback: renewed before it gets older than
the configured maximum age (proactively), renewed when the portal refuses it (HTTP 401, or a
configured code) with the call repeated exactly once, and one login for every concurrent caller.

The connector's and the simulator's clocks are one hand-moved clock: no test waits for time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.portal import protocol
from connectors.portal.connector import PortalConnector
from connectors.portal.connector import from_settings as portal
from connectors.portal.session import PortalClient, PortalError
from router.providers import CallPolicy
from simulators.portal import Portal as Simulated
from simulators.portal import PortalFaults, create_app, portal_of
from simulators.server import SimulatorServer
from tests.support.portal import AGENCY, PASSWORD_ENV, USER_ENV, code

FAST = CallPolicy(timeout_s=5, deadline_s=10, max_attempts=1)


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Rig:
    client: PortalClient
    portal: Simulated
    url: str
    registry: CollectorRegistry

    async def look_up(self) -> Any:
        return await self.client.call(protocol.LOOKUP, {protocol.LOOKUP_KEY: code(0)})

    def calls(self, outcome: str) -> float:
        value = self.registry.get_sample_value(
            "lienthong_portal_calls_total", {"operation": protocol.LOOKUP, "outcome": outcome}
        )
        return value or 0.0


@asynccontextmanager
async def rig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, session_ttl_s: float, options: dict[str, Any]
) -> AsyncIterator[Rig]:
    monkeypatch.setenv(USER_ENV, "lienthong")
    monkeypatch.setenv(PASSWORD_ENV, "demo-password")
    app, state = create_app(portal_faults=PortalFaults(session_ttl_s=session_ttl_s))
    server = SimulatorServer(app).start()
    settings = ConnectorSettings(
        name="portal",
        kind="portal",
        url=server.url,
        call_policy=FAST,
        options={"agency_code": AGENCY, "username_env": USER_ENV, "password_env": PASSWORD_ENV, **options},
    )
    registry = CollectorRegistry()
    connector = portal(settings, ConnectorDeps(registry, tmp_path))
    assert isinstance(connector, PortalConnector)
    await connector.open()
    clock = Clock()
    simulated = portal_of(state)
    connector.sync.client.clock = clock
    simulated.clock = clock
    try:
        yield Rig(connector.sync.client, simulated, server.url, registry)
    finally:
        await connector.aclose()
        server.stop()


def advance(rig: Rig, seconds: float) -> None:
    clock = rig.client.clock
    assert isinstance(clock, Clock)
    clock.now += seconds


async def test_a_session_is_renewed_at_its_maximum_age_before_the_portal_refuses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the portal would keep a session 15 minutes; the connector uses one 10 minutes (the default)
    async with rig(tmp_path, monkeypatch, session_ttl_s=900, options={}) as r:
        await r.look_up()
        advance(r, 599)
        await r.look_up()
        assert r.portal.logins == 1
        advance(r, 2)  # 601 s old
        await r.look_up()
        assert r.portal.logins == 2
        assert r.calls("session_expired") == 0  # renewed before the portal had to refuse it
        assert r.calls("not_found") == 3


async def test_an_expired_session_is_renewed_on_http_401_and_the_call_repeated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a portal that ends sessions sooner than the connector's maximum age
    async with rig(tmp_path, monkeypatch, session_ttl_s=300, options={"session_max_age": "20m"}) as r:
        await r.look_up()
        advance(r, 301)
        reply = await r.look_up()
        assert reply.outcome == "not_found"
        assert (r.portal.logins, r.calls("session_expired"), r.calls("not_found")) == (2, 1, 2)


async def test_a_configured_code_means_an_expired_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ended = {"status": 200, "body": {"error_code": "99", "message": "Phiên làm việc đã hết hạn"}}
    async with rig(
        tmp_path, monkeypatch, session_ttl_s=900, options={"codes": {"session_expired": ["99"]}}
    ) as r:
        await r.look_up()
        httpx.post(f"{r.url}/_sim/expire-sessions", json=ended, timeout=5).raise_for_status()
        assert (await r.look_up()).outcome == "not_found"
        assert (r.portal.logins, r.calls("session_expired")) == (2, 1)


async def test_without_the_code_configured_the_reply_is_a_refusal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ended = {"status": 200, "body": {"error_code": "99", "message": "Phiên làm việc đã hết hạn"}}
    async with rig(tmp_path, monkeypatch, session_ttl_s=900, options={}) as r:
        await r.look_up()
        httpx.post(f"{r.url}/_sim/expire-sessions", json=ended, timeout=5).raise_for_status()
        assert (await r.look_up()).outcome == "rejected"
        assert r.portal.logins == 1


async def test_the_call_is_repeated_exactly_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a portal whose sessions are over as soon as they are given
    async with rig(tmp_path, monkeypatch, session_ttl_s=0, options={}) as r:
        with pytest.raises(PortalError) as raised:
            await r.look_up()
        assert "refused a fresh session" in raised.value.detail and raised.value.retryable
        assert (r.portal.logins, r.calls("session_expired")) == (2, 2)


async def test_concurrent_callers_share_one_renewal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with rig(tmp_path, monkeypatch, session_ttl_s=900, options={}) as r:
        await r.look_up()
        httpx.post(f"{r.url}/_sim/expire-sessions", timeout=5).raise_for_status()
        replies = await asyncio.gather(*(r.look_up() for _ in range(20)))
        assert {reply.outcome for reply in replies} == {"not_found"}
        assert r.portal.logins == 2  # one login for the twenty callers that saw the session refused
        advance(r, 601)
        await asyncio.gather(*(r.look_up() for _ in range(20)))
        assert r.portal.logins == 3  # and one for twenty callers finding it too old
