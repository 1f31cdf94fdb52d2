"""The demo's stage: every outside system as a real server on loopback, and the bus itself.

The simulators come from the configuration: one per configured connector (population database,
business registry, road-transport registry, configured by kind: soap and kind: rest and played by
the simulator of their name; portal, citizen data store) on the port of its URL,
and a one-stop-shop receiver on the port of every loopback webhook a subscription delivers to. The
bus runs as ``lienthong serve`` in a child process, as it would in production, its log in a file.

With ``free_ports`` the simulators and the bus listen on ports the system picks, and the bus runs
a copy of the configuration with those ports, written beside the original (so that its relative
paths still hold); use it when 8080 or 92xx are taken.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import httpx
import yaml

from connectors.base import ConnectorKind
from lienthong.config import Settings, load_settings
from simulators.server import SimulatorServer, SimulatorState
from simulators.systems import SYSTEMS, SimulatedSystem, factory

# connector kind -> the simulator that plays that system
SIMULATOR_OF_KIND: Final[Mapping[ConnectorKind, SimulatedSystem]] = {
    "portal": "portal",
    "citizen_store": "citizen_store",
}
# the configured kinds speak to any registry: a demo plays the simulator named as the connector is
CONFIGURED_KINDS: Final = frozenset({"soap", "rest"})
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# The simulated portal's demo account (simulators.portal), unless the caller set one.
PORTAL_ACCOUNT = {"LIENTHONG_PORTAL_USER": "lienthong", "LIENTHONG_PORTAL_PASSWORD": "demo-password"}
READY_WITHIN_S = 60.0


class StageError(Exception):
    """A server of the stage did not start."""


@dataclass
class Actor:
    name: str  # the connector's name, or the system id whose webhooks a receiver takes
    system: str  # which simulator plays it
    server: SimulatorServer
    state: SimulatorState

    @property
    def url(self) -> str:
        return self.server.url


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _with_port(url: str, ports: dict[int, int]) -> str:
    parts = urlsplit(url)
    if parts.hostname not in LOOPBACK or parts.port not in ports:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{ports[parts.port]}"))


@dataclass
class Stage:
    config: Path
    log_file: Path
    free_ports: bool = False
    env: dict[str, str] = field(default_factory=dict)
    actors: dict[str, Actor] = field(default_factory=dict)
    bus: subprocess.Popen[bytes] | None = None
    settings: Settings | None = None
    bus_config: Path | None = None  # the file the bus runs: ``config``, or its copy on free ports
    bus_port: int = 0
    _ports: dict[int, int] = field(default_factory=dict)  # configured port -> the one in use

    @property
    def bus_url(self) -> str:
        return f"http://127.0.0.1:{self.bus_port}"

    def url_of(self, configured: str) -> str:
        """A configured URL as it is served on this stage."""
        return _with_port(configured, self._ports)

    def start(self) -> None:
        self.settings = settings = load_settings(self.config)
        for connector in settings.connectors:
            if connector.kind in SIMULATOR_OF_KIND:
                self._start_actor(connector.name, SIMULATOR_OF_KIND[connector.kind], connector.url)
            elif connector.kind in CONFIGURED_KINDS and connector.name in SYSTEMS:
                self._start_actor(connector.name, connector.name, connector.url)
        for subscription in settings.subscriptions:
            if subscription.sink.kind != "webhook":
                continue
            parts = urlsplit(str(subscription.sink.options["url"]))
            taken = {port for port, _ in self._ports.items()}
            if parts.hostname in LOOPBACK and parts.port not in taken:
                self._start_actor(subscription.system, "onestop", str(subscription.sink.options["url"]))
        self.bus_port = free_port() if self.free_ports else settings.http.port
        self.bus_config = self._write_config() if self.free_ports else self.config
        self._start_bus()

    def _start_actor(self, name: str, system: str, url: str) -> None:
        port = urlsplit(url).port or 80
        app, state = factory(system)()
        try:
            server = SimulatorServer(app, port=0 if self.free_ports else port).start()
        except (RuntimeError, OSError, SystemExit) as error:
            raise StageError(
                f"the {system} simulator could not listen on port {port} ({error or 'in use'}); "
                "stop what uses it, or run with --free-ports"
            ) from None
        self.actors[name] = Actor(name, system, server, state)
        self._ports[port] = server.port

    def _write_config(self) -> Path:
        """The configuration with the ports in use, beside the original (relative paths hold)."""
        raw: dict[str, Any] = yaml.safe_load(self.config.read_text("utf-8"))
        raw.setdefault("http", {})["port"] = self.bus_port
        for connector in raw.get("connectors", ()):
            connector["url"] = _with_port(connector["url"], self._ports)
        for subscription in raw.get("subscriptions", ()):
            webhook = subscription.get("sink", {}).get("webhook")
            if isinstance(webhook, dict) and "url" in webhook:
                webhook["url"] = _with_port(webhook["url"], self._ports)
        path = self.config.with_name(f".{self.config.stem}.demo-ports.yaml")
        header = f"# Written by `lienthong demo --free-ports` from {self.config.name}: do not edit.\n"
        path.write_text(header + yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), "utf-8")
        return path

    def _start_bus(self) -> None:
        assert self.bus_config is not None
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "lienthong", "serve", "--config", str(self.bus_config)]
        command += ["--port", str(self.bus_port), "--log-format", "text"]
        env = {**os.environ, **self.env}
        for name, value in PORTAL_ACCOUNT.items():
            env.setdefault(name, value)
        with self.log_file.open("ab") as log:
            self.bus = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        deadline = time.monotonic() + READY_WITHIN_S
        while time.monotonic() < deadline:
            if self.bus.poll() is not None:
                raise StageError(
                    f"the bus exited with status {self.bus.returncode}; see {self.log_file} "
                    f"(port {self.bus_port} in use? then run with --free-ports)"
                )
            try:
                if httpx.get(f"{self.bus_url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise StageError(f"the bus was not ready within {READY_WITHIN_S:.0f} s; see {self.log_file}")

    def stop(self) -> int | None:
        """SIGTERM to the bus (it drains and commits), then the simulators; the bus's exit status."""
        status = None
        if self.bus is not None:
            if self.bus.poll() is None:
                self.bus.send_signal(signal.SIGTERM)
                try:
                    self.bus.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.bus.kill()
                    self.bus.wait()
            status = self.bus.returncode
        for actor in self.actors.values():
            actor.server.stop()
        if self.free_ports and self.bus_config is not None and self.bus_config != self.config:
            self.bus_config.unlink(missing_ok=True)
        return status
