"""``lienthong simulate <system>`` runs a real server; killing its process is a real outage."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest

from adapters.soap import SoapEndpoint, SoapProvider
from router.metrics import CircuitState
from router.providers import CallPolicy, ProviderUnavailable
from router.subscriptions import BreakerPolicy
from simulators.population import PATH
from simulators.registry_data import build
from tests.support.bus import free_port

CITIZEN = build().citizens[5]


def start(*args: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lienthong", "simulate", *args, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"{url}/_sim/stats", timeout=1)
            return process, url
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    f"the simulator did not start: {process.stderr.read() if process.stderr else ''!r}"
                ) from None
            time.sleep(0.1)


async def test_population_simulator_process_then_killed() -> None:
    process, url = start("population")
    soap = SoapProvider(
        SoapEndpoint(
            name="population-cli",
            wsdl=f"{url}{PATH}?wsdl",
            wsdl_imports=True,
            policy=CallPolicy(
                max_attempts=2,
                initial_backoff_s=0.01,
                max_backoff_s=0.02,
                breaker=BreakerPolicy(failure_threshold=2),
            ),
        )
    )
    try:
        request = {
            "MaYeuCau": "r",
            "MaDVC": "d",
            "MaDonVi": "000.00.00.H49",
            "SoDinhDanh": CITIZEN.personal_id,
        }
        reply = await soap.call("TraCuuCongDan", request)
        assert reply["CongDan"]["HoVaTen"]["Ten"] == CITIZEN.ten
        process.kill()
        process.wait(10)
        with pytest.raises(ProviderUnavailable):
            await soap.call("TraCuuCongDan", request)
        assert soap.guard.breaker.state is CircuitState.OPEN
    finally:
        await soap.aclose()
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_business_simulator_with_fault_flags() -> None:
    process, url = start("business", "--error-rate", "1")
    try:
        firm = build().enterprises[0]
        assert httpx.get(f"{url}/api/v1/enterprises/{firm.tax_code}").status_code == 503
    finally:
        process.terminate()
        process.wait(10)


def test_an_unknown_system_is_a_clear_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lienthong", "simulate", "nowhere"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "no simulator 'nowhere'" in result.stderr


def test_vehicle_simulator_serves_its_wsdl() -> None:
    process, url = start("vehicle")
    try:
        reply = httpx.get(f"{url}/vehicle?wsdl", timeout=5)
        assert reply.status_code == 200
        assert f'location="{url}/vehicle"' in reply.text
        assert "TraCuuPhuHieu" in reply.text
    finally:
        process.terminate()
        process.wait(10)
