"""Publish -> delivered latency at a low steady rate, the bus beside the bare pipeline, in one run.

Run: ``.venv/bin/python -m bench.latency [--events 300] [--rate 20] [--rounds 2] [--strict]``
(the Kafka rows need ``LIENTHONG_KAFKA_BOOTSTRAP``; without it they are skipped, said so).

One event per publish request (``application/cloudevents+json``), ``--rate`` requests a second
on one kept-alive aiohttp connection, each delivered alone (webhook batch 1) to a receiver that
notes when each event arrived (bench.counting_receiver ``--record``). Every process reads the
same clock (``time.monotonic``, the machine's monotonic clock), so an event's latency is its
arrival at the receiver minus the moment its publish request was sent; publish -> 202 is the
request's own round trip. Printed: p50, p95 and p99 of both, per side and round.

Embedded: the bus (``lienthong serve``, embedded log, ``durability: fsync``) beside the bare
pipeline (bench.bare_pipeline: SQLite WAL with the same ``synchronous``, a task POSTing each row).
Kafka: the bus on the Kafka transport beside the bare pipeline's two aiokafka hops (inbound
topic, then a delivery topic, then the POST; idempotent producers, ``acks=all``, ``linger_ms=0``).
Rounds interleave the sides (floor, bus, floor, bus...), each with fresh processes; the ratios
are the bus's percentile over the floor's, their median over the rounds held against issue 21's
targets: embedded p50 <= 1.3x and p99 <= 1.5x the floor's, Kafka p50 <= 1.3x.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import orjson
import yaml

from bench.end_to_end import event, free_port, portal_config, wait_ready
from bench.verdict import AT_MOST, exit_code, ratio_line

BUS, FLOOR = "lienthong", "bare pipeline"
WARM_UP = 20  # events sent first on each side and waited for, not counted
PARTITIONS = 8
# issue 21: (transport, percentile) -> the bus's at most this many times the floor's
TARGETS = {("embedded", 50): 1.3, ("embedded", 99): 1.5, ("kafka", 50): 1.3}


@dataclass(frozen=True, slots=True)
class Latencies:
    delivered: list[float]  # seconds, publish request sent -> arrival at the receiver
    acknowledged: list[float]  # seconds, publish request sent -> its 202

    @staticmethod
    def percentile(values: list[float], p: int) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[p - 1]

    def line(self) -> str:
        d, a = self.delivered, self.acknowledged
        return (
            f"delivered p50 {self.percentile(d, 50) * 1e3:6.2f}  p95 {self.percentile(d, 95) * 1e3:6.2f}  "
            f"p99 {self.percentile(d, 99) * 1e3:6.2f} ms;  202 p50 {self.percentile(a, 50) * 1e3:5.2f}  "
            f"p99 {self.percentile(a, 99) * 1e3:5.2f} ms"
        )


def bus_config(folder: Path, port: int, receiver_port: int, bootstrap: str | None) -> str:
    transport: dict[str, Any] = (
        {
            "kind": "kafka",
            "bootstrap_servers": bootstrap.split(","),
            "namespace": f"latency-{uuid.uuid4().hex[:8]}.",
            "partitions": PARTITIONS,
            "path": str(folder / "dead-letters.db"),
        }
        if bootstrap
        else {"kind": "embedded", "path": "bench.db", "partitions": PARTITIONS, "durability": "fsync"}
    )
    key, document = portal_config(transport, {"url": f"http://127.0.0.1:{receiver_port}/events", "batch": 1})
    document["http"] = {"host": "127.0.0.1", "port": port}
    (folder / "bench.yaml").write_text(yaml.safe_dump(document, allow_unicode=True))
    return key


def server_command(
    side: str, folder: Path, port: int, receiver_port: int, bootstrap: str | None
) -> tuple[list[str], str]:
    if side == FLOOR:
        command = [
            *[sys.executable, "-m", "bench.bare_pipeline", "--port", str(port), "--batch", "1"],
            *["--target", f"http://127.0.0.1:{receiver_port}/events", "--durability", "fsync"],
            *(["--kafka", bootstrap] if bootstrap else []),
        ]
        return command, "none"
    key = bus_config(folder, port, receiver_port, bootstrap)
    return [sys.executable, "-m", "lienthong", "serve", "--config", str(folder / "bench.yaml")], key


async def paced(
    url: str, key: str, bodies: list[tuple[str, bytes]], rate: float
) -> dict[str, tuple[float, float]]:
    """One publish of each body every 1/``rate`` s: each id's (sent, acknowledged) monotonic times."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents+json"}
    times: dict[str, tuple[float, float]] = {}
    async with aiohttp.ClientSession(headers=headers) as session:
        due = time.monotonic()
        for event_id, body in bodies:
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            sent = time.monotonic()
            async with session.post(f"{url}/v1/events", data=body) as reply:
                text = await reply.read()
                if reply.status != 202:
                    raise SystemExit(f"publish failed: {reply.status} {text[:300]!r}")
            times[event_id] = (sent, time.monotonic())
            due += 1 / rate
    return times


def arrived(receiver: str, ids: Iterable[str], side: str) -> dict[str, float]:
    """The receiver's arrival times, once every one of ``ids`` arrived (60 s at most)."""
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=receiver, timeout=5) as poller:
        while True:
            arrivals: dict[str, float] = poller.get("/arrivals").json()
            missing = sum(event_id not in arrivals for event_id in ids)
            if not missing:
                return arrivals
            if time.monotonic() > deadline:
                raise SystemExit(f"{side}: {missing} events not delivered within 60 s")
            time.sleep(0.2)


def measure(side: str, events: int, rate: float, bootstrap: str | None) -> Latencies:
    """``events`` timed publishes to a fresh ``side``, after a warm-up delivered in full (on Kafka
    the consumer groups have their partitions by then)."""
    run = uuid.uuid4().hex[:8]
    bodies = [(f"{run}-{i}", orjson.dumps(event(i, run))) for i in range(WARM_UP + events)]
    with tempfile.TemporaryDirectory(prefix="lienthong-bench-latency-") as name:
        folder = Path(name)
        port, receiver_port = free_port(), free_port()
        command, key = server_command(side, folder, port, receiver_port, bootstrap)
        receiver = subprocess.Popen(
            [sys.executable, "-m", "bench.counting_receiver", "--port", str(receiver_port), "--record"]
        )
        with (folder / "server.log").open("wb") as log:
            server = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
            )
        url, receiver_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{receiver_port}"
        try:
            wait_ready(f"{receiver_url}/count", receiver)
            wait_ready(f"{url}/readyz", server)
            warm = asyncio.run(paced(url, key, bodies[:WARM_UP], rate))
            arrived(receiver_url, warm, side)
            times = asyncio.run(paced(url, key, bodies[WARM_UP:], rate))
            arrivals = arrived(receiver_url, times, side)
        except BaseException:
            print((folder / "server.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
            receiver.terminate()
            receiver.wait(30)
    return Latencies(
        [arrivals[i] - sent for i, (sent, _) in times.items()],
        [acked - sent for sent, acked in times.values()],
    )


def compare(transport: str, args: argparse.Namespace, bootstrap: str | None) -> None:
    print(
        f"latency publish -> delivered, {transport}, {args.events} events per side and round at "
        f"{args.rate:g}/s, webhook batch 1, {os.cpu_count()} cores",
        flush=True,
    )
    ratios: dict[int, list[float]] = {50: [], 95: [], 99: []}
    for number in range(args.rounds):
        measured = {}
        for side in (FLOOR, BUS):
            measured[side] = measure(side, args.events, args.rate, bootstrap)
            print(f"  round {number + 1} {side:<14} {measured[side].line()}", flush=True)
        for p, found in ratios.items():
            floor, bus = (Latencies.percentile(measured[s].delivered, p) for s in (FLOOR, BUS))
            found.append(bus / floor)
    for p, found in ratios.items():
        row = f"latency {transport}, p{p} delivered (x floor)"
        target = TARGETS.get((transport, p))
        if target is not None:
            ratio_line("bench.latency", row, found, AT_MOST, target)
        else:
            print(f"  {row}: {', '.join(f'{r:.2f}' for r in found)} (no target)")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=300, help="events per side and round")
    parser.add_argument("--rate", type=float, default=20.0, help="publishes per second")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds: floor, bus, floor, bus...")
    parser.add_argument(
        "--transport", choices=["embedded", "kafka", "both"], default="both", help="Kafka needs a broker"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a ratio misses its target")
    args = parser.parse_args()
    bootstrap = os.environ.get("LIENTHONG_KAFKA_BOOTSTRAP")
    if args.transport in ("embedded", "both"):
        compare("embedded", args, None)
    if args.transport in ("kafka", "both"):
        if bootstrap:
            compare("kafka", args, bootstrap)
        else:
            print("latency, kafka: skipped, no broker configured (set LIENTHONG_KAFKA_BOOTSTRAP)")
    return exit_code(args.strict)


if __name__ == "__main__":
    raise SystemExit(main())
