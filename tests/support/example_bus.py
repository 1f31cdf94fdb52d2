"""``lienthong serve`` on a copy of the example configuration (examples/lienthong.yaml), on a
free loopback port, with the demo keys of examples/demo-keys.env: the bus a newcomer starts.

The registries and sinks it names are not running: calls to them fail as they would in an
outage, which the API answers as documented (503 and the like)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.bus import free_port
from tests.support.demo import ROOT, copy_of_examples

READY_WITHIN_S = 60.0


@dataclass(frozen=True)
class ExampleBus:
    url: str
    keys: dict[str, str]  # by system name: motcua, dvcqg, vanhanh, khodulieu
    log: Path


def demo_keys() -> dict[str, str]:
    """The demo API keys by system name (LIENTHONG_DEMO_KEY_VANHANH -> vanhanh)."""
    keys = {}
    for line in (ROOT / "examples" / "demo-keys.env").read_text().splitlines():
        name, _, value = line.partition("=")
        if name.startswith("LIENTHONG_DEMO_KEY_"):
            keys[name.removeprefix("LIENTHONG_DEMO_KEY_").lower()] = value.strip()
    return keys


@contextmanager
def example_bus(folder: Path) -> Iterator[ExampleBus]:
    config = copy_of_examples(folder)
    port = free_port()
    log = folder / "bus.log"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in ("LIENTHONG_CONFIG", "LIENTHONG_PORTAL_USER", "LIENTHONG_PORTAL_PASSWORD"):
        env.pop(name, None)
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "lienthong", "serve", "--config", str(config), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=folder,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, log)
        yield ExampleBus(url, demo_keys(), log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the bus exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the bus did not become ready:\n{log.read_text()[-4000:]}")
