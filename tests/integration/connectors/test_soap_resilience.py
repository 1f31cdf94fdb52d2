"""Retries and the circuit breaker of the SOAP adapter against the population simulator in
outage and slow modes: the server really stopped, or answering 503, or too slow."""

from __future__ import annotations

import asyncio

import pytest

from adapters.soap import SoapEndpoint, SoapProvider
from router.metrics import CircuitState
from router.providers import CallPolicy, CircuitOpen, ProviderTimeout, ProviderUnavailable
from router.subscriptions import BreakerPolicy
from simulators.population import PATH, WSDL, create_app
from simulators.registry_data import build
from simulators.server import Faults
from tests.support.simulators import requests_seen, serving, set_faults

CITIZEN = build().citizens[0]
REQUEST = {
    "MaYeuCau": "r",
    "MaDVC": "1.000894",
    "MaDonVi": "000.00.00.H49",
    "SoDinhDanh": CITIZEN.personal_id,
}


def provider(url: str, **policy: object) -> SoapProvider:
    settings: dict[str, object] = {
        "max_attempts": 3,
        "initial_backoff_s": 0.01,
        "max_backoff_s": 0.05,
        "breaker": BreakerPolicy(failure_threshold=3, reset_timeout_s=0.3),
    }
    settings.update(policy)
    return SoapProvider(
        SoapEndpoint(name="population", wsdl=str(WSDL), address=f"{url}{PATH}", policy=CallPolicy(**settings))  # type: ignore[arg-type]
    )


async def test_a_stopped_server_is_retried_then_the_circuit_opens_then_recovers() -> None:
    app, _ = create_app()
    with serving(app) as server:
        port, url = server.port, server.url
        soap = provider(url)
        assert (await soap.call("TraCuuCongDan", REQUEST))["CongDan"]["HoVaTen"]["Ten"] == CITIZEN.ten
    # the server is stopped: its port refuses connections
    try:
        with pytest.raises(ProviderUnavailable) as caught:
            await soap.call("TraCuuCongDan", REQUEST)
        assert type(caught.value) is ProviderUnavailable
        assert soap.guard.attempts == 1 + 3
        assert soap.guard.breaker.state is CircuitState.OPEN
        # while open, calls are refused without reaching the endpoint
        with pytest.raises(CircuitOpen):
            await soap.call("TraCuuCongDan", REQUEST)
        assert soap.guard.attempts == 4
        # the server comes back on the same port; after the pause the probe closes the circuit
        app, _ = create_app()
        with serving(app, port=port):
            while soap.guard.breaker.retry_in():
                await asyncio.sleep(0.05)
            reply = await soap.call("TraCuuCongDan", REQUEST)
            assert reply["CongDan"]["SoDinhDanh"] == CITIZEN.personal_id
            assert soap.guard.breaker.state is CircuitState.CLOSED
    finally:
        await soap.aclose()


async def test_503_replies_are_retried_and_counted_at_the_server() -> None:
    app, _ = create_app(Faults(error_rate=1.0))
    with serving(app) as server:
        soap = provider(server.url, breaker=BreakerPolicy(failure_threshold=10))
        try:
            with pytest.raises(ProviderUnavailable) as caught:
                await soap.call("TraCuuCongDan", REQUEST)
            assert caught.value.http_status == 503
            assert requests_seen(server.url) == 3
            # the outage ends: the next call goes through on its first attempt
            set_faults(server.url, Faults())
            await soap.call("TraCuuCongDan", REQUEST)
            assert requests_seen(server.url) == 4
        finally:
            await soap.aclose()


async def test_an_outage_window_then_recovery_within_one_call() -> None:
    app, _ = create_app(Faults())
    with serving(app) as server:
        soap = provider(
            server.url,
            max_attempts=50,
            initial_backoff_s=0.05,
            max_backoff_s=0.1,
            deadline_s=10.0,
            breaker=BreakerPolicy(failure_threshold=100),
        )
        # the outage's clock starts when it is set: the call below begins inside it, however long
        # the server and the provider took to start
        set_faults(server.url, Faults(outage_after_s=0.0, outage_for_s=1.0))
        try:
            reply = await soap.call("TraCuuCongDan", REQUEST)
        finally:
            await soap.aclose()
        assert reply["CongDan"]["SoDinhDanh"] == CITIZEN.personal_id
        assert requests_seen(server.url) >= 2


async def test_slow_replies_time_out_and_are_retried() -> None:
    app, _ = create_app(Faults(slow_rate=1.0, slow_s=1.0))
    with serving(app) as server:
        soap = provider(server.url, timeout_s=0.2, max_attempts=2)
        try:
            with pytest.raises(ProviderTimeout):
                await soap.call("TraCuuCongDan", REQUEST)
            assert soap.guard.attempts == 2
            assert requests_seen(server.url) == 2
        finally:
            await soap.aclose()


async def test_the_deadline_bounds_the_whole_call() -> None:
    app, _ = create_app(Faults(slow_rate=1.0, slow_s=1.0))
    with serving(app) as server:
        soap = provider(server.url, timeout_s=5.0, deadline_s=0.3, max_attempts=5)
        try:
            with pytest.raises(ProviderTimeout):
                await soap.call("TraCuuCongDan", REQUEST)
            assert soap.guard.attempts == 1
        finally:
            await soap.aclose()
