"""Debian's Prometheus binary as a test server: the project's scrape configuration aimed at a test
bus, on a free loopback port, with its storage in a temporary folder."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self, TypeVar

import httpx
import yaml

from tests.deploy.conftest import DEPLOY
from tests.support.bus import free_port

PROMETHEUS_DIR = DEPLOY / "prometheus"
T = TypeVar("T")


def scrape_config(target: str, interval: str = "1s") -> dict[str, Any]:
    """deploy/prometheus/prometheus.yml, scraping ``target`` every ``interval``; rules as shipped."""
    config: dict[str, Any] = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = interval
    config["global"]["evaluation_interval"] = interval
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    (job,) = [job for job in config["scrape_configs"] if job["job_name"] == "lienthong"]
    job["static_configs"] = [{"targets": [target]}]
    return config


def eventually(check: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
    """``check()``'s first result that is not None, polling for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last is not None:
            return last
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout:.0f}s: {what}")


class PrometheusServer:
    def __init__(self, binary: str, config: dict[str, Any], directory: Path) -> None:
        self.binary = binary
        self.directory = directory
        self.config_path = directory / "prometheus.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "prometheus.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Self:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    self.binary,
                    f"--config.file={self.config_path}",
                    f"--storage.tsdb.path={self.directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

        def ready() -> bool | None:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log.read_text()[-4000:]}")
            try:
                return True if httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200 else None
            except httpx.HTTPError:
                return None

        eventually(ready, "prometheus ready", timeout)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def api(self, path: str, **params: str) -> Any:
        """The ``data`` of a successful API answer (an AssertionError naming the error otherwise)."""
        reply = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = reply.json()
        assert reply.status_code == 200 and body["status"] == "success", f"{path} {params}: {body}"
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's vector: ``[{"metric": {...}, "value": [time, "text"]}, ...]``."""
        data = self.api("query", query=expr)
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

    def value(self, expr: str) -> float | None:
        """The single value of an instant query, or None when it has no series."""
        result = self.query(expr)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None
