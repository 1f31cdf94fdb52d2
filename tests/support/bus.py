"""The bus for integration tests: a configuration written for the test, and ``lienthong serve``
running it in a child process on a free loopback port (so a test can kill -9 it)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx
import yaml

from router.directory import hash_api_key, new_api_key

ONESTOP = "000.00.00.H49/motcua"
PORTAL = "000.00.00.G22/dvcqg"
WAREHOUSE = "000.00.00.H49/khodulieu"
OPERATOR = "000.00.00.H49/vanhanh"
OUTSIDER = "000.00.00.H56/motcua"
BROKER = "000.00.00.H49/truclienthong"  # the bus's own evidence broker (docs/evidence.md)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class BusConfig:
    """A configuration for one test: four systems with fresh keys, policies, subscriptions."""

    directory: Path
    subscriptions: list[dict[str, Any]] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    keys: dict[str, str] = field(default_factory=dict)
    partitions: int = 4
    extra_policies: list[dict[str, Any]] = field(default_factory=list)
    http: dict[str, Any] = field(default_factory=dict)
    transport: dict[str, Any] | None = None  # None: the embedded log in the directory
    # more top-level sections, as written in the file: connectors, datasets, procedures, audit...
    sections: dict[str, Any] = field(default_factory=dict)
    member_names: dict[str, str] = field(default_factory=dict)  # by agency code; default: the code
    # the systems allowed to name their official in X-Official-Id (None: all of them, for the tests
    # of what follows an official rather than how it is proven: tests/integration/test_officials.py)
    asserted_officials: Sequence[str] | None = None

    def subscribe(
        self,
        name: str,
        url: str,
        *,
        system: str = PORTAL,
        types: Sequence[str] = ("dossier.status.changed",),
        filters: Sequence[Mapping[str, Any]] = (),
        batch: int = 1,
        retry: Mapping[str, Any] | None = None,
        breaker: Mapping[str, Any] | None = None,
        on_dead_letter: str = "continue",
        bus_policies: bool = False,
        mode: str | None = None,
    ) -> Self:
        """A webhook subscription. Its retry and breaker policies are quick ones for tests unless
        given, or, with ``bus_policies``, left out so that the bus's own defaults apply."""
        entry: dict[str, Any] = {
            "name": name,
            "system": system,
            "types": list(types),
            "sink": {"webhook": {"url": url, "timeout": "2s", "batch": batch}},
            "retry": dict(
                retry
                or {"max_attempts": 4, "max_elapsed": "5s", "initial_backoff": "20ms", "max_backoff": "200ms"}
            ),
            "circuit_breaker": dict(breaker or {"failure_threshold": 50, "reset_timeout": "500ms"}),
            "on_dead_letter": on_dead_letter,
        }
        if filters:
            entry["filters"] = list(filters)
        if mode is not None:
            entry["sink"]["webhook"]["mode"] = mode
        if bus_policies:
            del entry["retry"], entry["circuit_breaker"]
        self.subscriptions.append(entry)
        return self

    def write(self) -> Path:
        members: dict[str, list[dict[str, Any]]] = {}
        for system in (ONESTOP, PORTAL, WAREHOUSE, OPERATOR, OUTSIDER, BROKER):
            # written again (a reload test), the file keeps the keys in ``keys``: set one there
            # to rotate it
            key = self.keys.get(system)
            if key is None:
                key, digest = new_api_key(system)
                self.keys[system] = key
            else:
                digest = hash_api_key(key)
            code, name = system.split("/")
            entry: dict[str, Any] = {"name": name, "api_keys": [digest]}
            if system == OPERATOR:
                entry["roles"] = ["operator"]
            if self.asserted_officials is None or system in self.asserted_officials:
                entry["officials"] = {"accept_asserted_header": True}
            members.setdefault(code, []).append(entry)
        document = {
            "version": 1,
            "transport": self.transport
            or {
                "kind": "embedded",
                "path": "bus.db",
                "partitions": self.partitions,
                "durability": "os",
            },
            "http": {"host": "127.0.0.1", "port": self.port, **self.http},
            "members": [
                {"code": code, "name": self.member_names.get(code, code), "systems": systems}
                for code, systems in members.items()
            ],
            "policies": [
                {"systems": [ONESTOP], "publish": ["dossier.*"]},
                {"systems": [PORTAL], "subscribe": ["dossier.*"]},
                {"systems": [WAREHOUSE], "subscribe": ["dossier.submitted"]},
                {"systems": [OPERATOR], "admin": True},
                *self.extra_policies,
            ],
            "subscriptions": self.subscriptions,
            **self.sections,
        }
        path = self.directory / "lienthong.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
        return path


class BusProcess:
    """``python -m lienthong serve`` on a test configuration."""

    def __init__(self, config: BusConfig, env: Mapping[str, str] | None = None) -> None:
        """``env``: variables added to the process's environment (a fault point: lienthong.faults)."""
        self.config = config
        self.env = dict(env or {})
        self.path = config.write()
        self.url = f"http://127.0.0.1:{config.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = config.directory / "bus.log"

    def start(self, timeout: float = 60.0) -> Self:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "lienthong", "serve", "--config", str(self.path)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the bus exited with {self.process.returncode}:\n{self.log.read_text()[-4000:]}"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        # a bus that never became ready is stopped here: no test holds it to stop it later
        self.process.kill()
        self.process.wait(10)
        raise RuntimeError(f"the bus did not become ready:\n{self.log.read_text()[-4000:]}")

    def kill(self) -> None:
        """kill -9: no shutdown code runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def client(self, system: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.config.keys[system]}"}, timeout=30
        )

    def async_client(self, system: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {self.config.keys[system]}"}, timeout=30
        )


async def abandon_request(
    bus: BusProcess, path: str, system: str, content_type: str, body: bytes, *, linger_s: float = 0.0
) -> None:
    """A POST that announces more body than it sends and closes its connection, after ``linger_s``
    (time for the bus to be reading the body): a client that went away mid-request."""
    _, writer = await asyncio.open_connection("127.0.0.1", bus.config.port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {bus.config.keys[system]}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body) + 1000}\r\n\r\n".encode()
        + body[:20]
    )
    await writer.drain()
    if linger_s:
        await asyncio.sleep(linger_s)
    writer.close()
    await writer.wait_closed()
