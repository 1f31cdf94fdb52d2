"""What every agency simulator shares: fault injection, request counting and a uvicorn runner.

Fault flags (:class:`Faults`), applied to every request except the ``/_sim/`` control routes:
``latency_s`` added to every reply; ``error_rate`` the share of requests answered 503 (drawn
from a generator seeded with ``seed``, so a run is repeatable); an outage window
(``outage_after_s`` after start, for ``outage_for_s``) during which every request gets 503;
``slow_rate`` the share of replies held back ``slow_s`` more (slow replies, to trip timeouts).

Control routes, for tests and demos: ``GET /_sim/stats`` (requests seen), ``PUT /_sim/faults``
(replace the fault flags with the JSON body's), ``POST /_sim/reset`` (zero the counters).
"""

from __future__ import annotations

import asyncio
import random
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

CONTROL_PREFIX = "/_sim/"


@dataclass(slots=True)
class Faults:
    latency_s: float = 0.0
    error_rate: float = 0.0
    outage_after_s: float | None = None
    outage_for_s: float = 0.0
    slow_rate: float = 0.0
    slow_s: float = 0.0
    seed: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Faults:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault flags: {sorted(unknown)}")
        faults = cls(**data)
        if not 0 <= faults.error_rate <= 1 or not 0 <= faults.slow_rate <= 1:
            raise ValueError("error_rate and slow_rate are shares between 0 and 1")
        return faults


class SimulatorState:
    def __init__(self, faults: Faults) -> None:
        self.requests = 0
        self.started = time.monotonic()
        self.set_faults(faults)

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self.rng = random.Random(faults.seed)
        self.started = time.monotonic()

    def in_outage(self) -> bool:
        after = self.faults.outage_after_s
        if after is None:
            return False
        elapsed = time.monotonic() - self.started
        return after <= elapsed < after + self.faults.outage_for_s


class FaultInjection:
    """ASGI middleware applying :class:`Faults` and counting requests."""

    def __init__(self, app: ASGIApp, state: SimulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        state = self.state
        state.requests += 1
        faults = state.faults
        if faults.latency_s > 0:
            await asyncio.sleep(faults.latency_s)
        if state.in_outage() or (faults.error_rate > 0 and state.rng.random() < faults.error_rate):
            response = PlainTextResponse("simulated outage", status_code=503)
            await response(scope, receive, send)
            return
        if faults.slow_rate > 0 and state.rng.random() < faults.slow_rate:
            await asyncio.sleep(faults.slow_s)
        await self.app(scope, receive, send)


def control_routes(state: SimulatorState) -> list[BaseRoute]:
    async def stats(_: Request) -> Response:
        return JSONResponse({"requests": state.requests, "faults": asdict(state.faults)})

    async def set_faults(request: Request) -> Response:
        try:
            state.set_faults(Faults.from_json(await request.json()))
        except (ValueError, TypeError) as error:
            return JSONResponse({"error": str(error)}, status_code=400)
        return JSONResponse(asdict(state.faults))

    async def reset(_: Request) -> Response:
        state.requests = 0
        return JSONResponse({"requests": 0})

    return [
        Route(f"{CONTROL_PREFIX}stats", stats, methods=["GET"]),
        Route(f"{CONTROL_PREFIX}faults", set_faults, methods=["PUT"]),
        Route(f"{CONTROL_PREFIX}reset", reset, methods=["POST"]),
    ]


def simulator_app(routes: Sequence[BaseRoute], faults: Faults) -> tuple[ASGIApp, SimulatorState]:
    state = SimulatorState(faults)
    app = Starlette(routes=[*control_routes(state), *routes])
    return FaultInjection(app, state), state


@dataclass(frozen=True, slots=True)
class ServerTls:
    """HTTPS for a simulator: its certificate and key files, and the CA its clients' certificates
    must come from (``None``: no client certificate asked)."""

    certfile: str
    keyfile: str
    client_ca: str | None = None


class SimulatorServer:
    """A simulator served by uvicorn on 127.0.0.1: in a background thread (:meth:`start`, for
    tests) or in the foreground (:meth:`run`, for the CLI)."""

    def __init__(
        self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, tls: ServerTls | None = None
    ) -> None:
        extra: dict[str, Any] = {}
        if tls is not None:
            extra = {"ssl_certfile": tls.certfile, "ssl_keyfile": tls.keyfile}
            if tls.client_ca is not None:  # mutual TLS: a client without a certificate of this CA is refused
                extra |= {"ssl_ca_certs": tls.client_ca, "ssl_cert_reqs": ssl.CERT_REQUIRED}
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", access_log=False, lifespan="off", **extra
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None
        self.host = host
        self.scheme = "http" if tls is None else "https"

    @property
    def port(self) -> int:
        port: int = self._server.servers[0].sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    def run(self) -> None:
        self._server.run()

    def start(self, timeout_s: float = 10.0) -> SimulatorServer:
        self._thread = threading.Thread(target=self._server.run, name="simulator", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stops serving and closes the port (connections are refused afterwards)."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
