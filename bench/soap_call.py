"""A SOAP call through the adapter (zeep on httpx, behind the call guards) against a raw httpx
POST of the same envelope, to the same population simulator, in one run.

Run: ``.venv/bin/python -m bench.soap_call [--calls 2000] [--rounds 3] [--concurrency 50] [--xsd]``

The simulator runs in its own process (``python -m lienthong simulate population``), so it does
not share this process's event loop. Both sides send ``TraCuuCongDan`` for the same citizens with
the same concurrency and connection pool; the raw side only checks the status, the adapter
builds the envelope from the WSDL, parses and serialises the reply to plain data (``--xsd``: and
validates it against the XSD). The difference is the adapter's cost per call.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import httpx

from adapters.soap import SoapEndpoint, SoapProvider
from bench.end_to_end import free_port
from router.providers import CallPolicy
from simulators.population import NAMESPACE, PATH, WSDL, XSD
from simulators.registry_data import build
from simulators.soap_service import build as element
from simulators.soap_service import envelope

HEADER = {"MaYeuCau": "bench", "MaDVC": "1.000894", "MaDonVi": "000.00.00.H49"}
IDS = [c.personal_id for c in build().citizens]


def start_simulator(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "lienthong", "simulate", "population", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sim/stats", timeout=1)
            return process
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise SystemExit("the simulator did not start") from None
            time.sleep(0.1)


async def run(
    call: Callable[[int], Awaitable[None]], calls: int, concurrency: int
) -> tuple[float, list[float]]:
    """``calls`` calls over ``concurrency`` workers: (seconds, per-call latencies)."""
    latencies: list[float] = []
    next_index = iter(range(calls))

    async def worker() -> None:
        for index in next_index:
            began = time.perf_counter()
            await call(index)
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began, latencies


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


async def bench(url: str, calls: int, concurrency: int, xsd: bool, rounds: int) -> None:
    address = f"{url}{PATH}"
    soap = SoapProvider(
        SoapEndpoint(
            name="population",
            wsdl=str(WSDL),
            address=address,
            reply_xsd=str(XSD) if xsd else None,
            policy=CallPolicy(timeout_s=30, deadline_s=60),
        )
    )
    raw = httpx.AsyncClient(
        timeout=30,
        trust_env=False,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
    )
    headers = {
        "Content-Type": "text/xml; charset=utf-8",
        "SOAPAction": f'"{NAMESPACE}#TraCuuCongDan"',
    }
    bodies = [envelope(element(NAMESPACE, "TraCuuCongDan", {**HEADER, "SoDinhDanh": pid})) for pid in IDS]

    async def adapter_call(index: int) -> None:
        reply = await soap.call("TraCuuCongDan", {**HEADER, "SoDinhDanh": IDS[index % len(IDS)]})
        assert reply["CongDan"]["SoDinhDanh"] == IDS[index % len(IDS)]

    async def raw_call(index: int) -> None:
        body = bodies[index % len(bodies)]
        try:
            reply = await raw.post(address, content=body, headers=headers)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # a kept-alive connection the server closed meanwhile: sent again, as the adapter's
            # retries would
            reply = await raw.post(address, content=body, headers=headers)
        if reply.status_code != 200:
            raise SystemExit(f"raw call: HTTP {reply.status_code}")

    try:
        warm = max(200, calls // 10)
        await run(raw_call, warm, concurrency)
        await run(adapter_call, warm, concurrency)
        # alternated rounds: the two sides see the same machine state, and the spread shows
        raw_s, soap_s, raw_lat, soap_lat = [], [], [], []
        for _ in range(rounds):
            seconds, latencies = await run(raw_call, calls, concurrency)
            raw_s.append(seconds)
            raw_lat += latencies
            seconds, latencies = await run(adapter_call, calls, concurrency)
            soap_s.append(seconds)
            soap_lat += latencies
    finally:
        await soap.aclose()
        await raw.aclose()
    ratios = sorted(r / s for r, s in zip(raw_s, soap_s, strict=True))
    raw_rate, soap_rate = calls * rounds / sum(raw_s), calls * rounds / sum(soap_s)
    print(
        f"calls {calls} each per round, {rounds} rounds, concurrency {concurrency}, "
        f"reply XSD validation {'on' if xsd else 'off'}"
    )
    for name, rate, lat in (("raw httpx POST", raw_rate, raw_lat), ("SoapProvider", soap_rate, soap_lat)):
        p50, p99 = quantile(lat, 0.5) * 1000, quantile(lat, 0.99) * 1000
        print(f"{name:15}: {rate:8.0f} calls/s  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
    print(
        f"ratio adapter/raw: {soap_rate / raw_rate:.2f} (per round: {', '.join(f'{r:.2f}' for r in ratios)})"
    )
    print(
        f"added latency: p50 {(quantile(soap_lat, 0.5) - quantile(raw_lat, 0.5)) * 1000:+.1f} ms, "
        f"p99 {(quantile(soap_lat, 0.99) - quantile(raw_lat, 0.99)) * 1000:+.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--xsd", action="store_true", help="validate each reply against the XSD too")
    options = parser.parse_args()
    port = free_port()
    process = start_simulator(port)
    try:
        asyncio.run(
            bench(f"http://127.0.0.1:{port}", options.calls, options.concurrency, options.xsd, options.rounds)
        )
    finally:
        process.terminate()
        process.wait(10)


if __name__ == "__main__":
    main()
