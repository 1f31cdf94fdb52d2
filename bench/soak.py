"""Soak: a steady publish load for N minutes while faults come and go, and what that did.

Run: ``.venv/bin/python -m bench.soak --minutes 30 [--transport kafka] [--faults sink,broker,kill]``

One bus process (``lienthong serve``) routes ``dossier.status.changed`` events of ``--subjects``
dossiers to a webhook receiver that this process runs. Publishers send each dossier's events in
sequence at ``--rate`` events/s in all, and send an event again (same id) until the bus
acknowledges it. Every ``--fault-every`` seconds the next fault of the cycle happens:

- ``sink``: the receiver stops listening for ``--sink-down`` seconds (connections refused);
- ``broker``: the Kafka broker is stopped and started again after ``--broker-down`` seconds
  (``deploy/kafka/kafka``, the broker of ``LIENTHONG_KAFKA_BOOTSTRAP``; Kafka only);
- ``kill``: the bus gets SIGKILL and is started again at once on the same data.

Every ``--sample-every`` seconds a line gives the counts so far and the bus's resident memory,
open file descriptors and log lines. At the end, publishing stops, every acknowledged event is
waited for (up to ``--drain`` seconds) and the verdict is printed:

- lost: acknowledged events that never arrived (must be 0);
- duplicates: arrivals of an event already received (redelivery is at least once: counted);
- order violations: a first arrival of an event older than one already received for the same
  dossier (must be 0);
- memory: the bus's resident memory at the end of each of its lives against the same life's
  first sample after ``--warm-up`` seconds (flat: within ``--memory-slack``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from aiohttp import web

from bench.end_to_end import event, free_port, portal_config

ROOT = Path(__file__).resolve().parents[1]
KAFKA_SCRIPT = ROOT / "deploy" / "kafka" / "kafka"
FAULTS = ("sink", "broker", "kill")


def event_id(run: str, index: int, sequence: int) -> str:
    """The id of dossier ``index``'s event ``sequence``: the receiver reads both back from it."""
    return f"{run}.{index}.{sequence}"


@dataclass
class Tally:
    """What the publishers had acknowledged and what the receiver saw."""

    acknowledged: set[str] = field(default_factory=set)
    refused: int = 0  # answers other than 202 and 5xx: a bug in this bench or the bus
    retries: int = 0
    seen: set[str] = field(default_factory=set)
    arrivals: int = 0
    duplicates: int = 0
    order_violations: int = 0
    newest: dict[str, int] = field(default_factory=lambda: defaultdict(lambda: -1))

    def arrived(self, event_id: str) -> None:
        self.arrivals += 1
        if event_id in self.seen:
            self.duplicates += 1
            return
        self.seen.add(event_id)
        _, subject, sequence = event_id.rsplit(".", 2)
        if int(sequence) < self.newest[subject]:
            self.order_violations += 1
        else:
            self.newest[subject] = int(sequence)


class Receiver:
    """A webhook receiver that can be taken down and brought back on the same port."""

    def __init__(self, port: int, tally: Tally) -> None:
        self.port = port
        self._tally = tally
        self._runner: web.AppRunner | None = None

    async def _events(self, request: web.Request) -> web.Response:
        body = await request.read()
        kind = request.headers.get("Content-Type", "")
        if kind.startswith("application/cloudevents-batch+json"):
            ids = [item["id"] for item in orjson.loads(body)]
        elif kind.startswith("application/cloudevents+json"):
            ids = [orjson.loads(body)["id"]]
        else:
            ids = [request.headers["ce-id"]]
        for event_id in ids:
            self._tally.arrived(event_id)
        return web.Response(status=200)

    async def up(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/events", self._events)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()

    async def down(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()


class Bus:
    """The ``lienthong serve`` process, started again after each kill on the same data."""

    def __init__(self, folder: Path, port: int) -> None:
        self._folder = folder
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = folder / "bus.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.lives = 0

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lienthong", "serve", "--config", str(self._folder / "soak.yaml")],
            cwd=self._folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        self.lives += 1

    async def ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise SystemExit(f"the bus exited with {self.process.returncode}: see {self.log_path}")
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with session.get(f"{self.url}/readyz", timeout=aiohttp.ClientTimeout(2)) as r:
                        if r.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise SystemExit(f"the bus was not ready after {timeout} s: see {self.log_path}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def memory_mib(self) -> float:
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def descriptors(self) -> int:
        assert self.process is not None
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def log_lines(self) -> int:
        with self.log_path.open("rb") as log:
            return sum(1 for _ in log)


def write_config(folder: Path, port: int, receiver_port: int, transport: str, batch: int) -> str:
    if transport == "kafka":
        settings: dict[str, Any] = {
            "kind": "kafka",
            "bootstrap_servers": os.environ["LIENTHONG_KAFKA_BOOTSTRAP"].split(","),
            "namespace": f"soak-{os.urandom(4).hex()}",
            "partitions": 8,
            "path": "dead-letters.db",
        }
    else:
        settings = {"kind": "embedded", "path": "soak.db", "partitions": 8}
    # the default retry and circuit-breaker policies: a soak checks what a deployment gets
    key, document = portal_config(
        settings, {"url": f"http://127.0.0.1:{receiver_port}/events", "batch": batch}
    )
    document["http"] = {"host": "127.0.0.1", "port": port}
    (folder / "soak.yaml").write_text(yaml.safe_dump(document, allow_unicode=True))
    return key


async def publish(
    url: str, key: str, run: str, subjects: int, rate: float, tally: Tally, stop: asyncio.Event
) -> None:
    """One task per dossier, each sending its events in sequence, again until acknowledged."""
    interval = subjects / rate
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents+json"}
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:

        async def dossier(index: int) -> None:
            await asyncio.sleep(interval * index / subjects)  # spread the dossiers out
            sequence = 0
            due = time.monotonic()
            while not stop.is_set():
                body = orjson.dumps(event(index, run, event_id(run, index, sequence)))
                while True:
                    try:
                        async with session.post(f"{url}/v1/events", data=body) as reply:
                            status = reply.status
                    except (aiohttp.ClientError, TimeoutError):
                        status = 0
                    if status == 202:
                        break
                    if status not in (0, 429) and status < 500:
                        tally.refused += 1
                        break
                    tally.retries += 1
                    await asyncio.sleep(0.5)
                if status == 202:
                    tally.acknowledged.add(event_id(run, index, sequence))
                sequence += 1
                due += interval
                await asyncio.sleep(max(0.0, due - time.monotonic()))

        await asyncio.gather(*(dossier(index) for index in range(subjects)))


async def broker(command: str) -> None:
    await asyncio.to_thread(subprocess.run, [str(KAFKA_SCRIPT), command], capture_output=True, check=True)


async def inject(fault: str, args: argparse.Namespace, bus: Bus, receiver: Receiver) -> None:
    if fault == "sink":
        await receiver.down()
        await asyncio.sleep(args.sink_down)
        await receiver.up()
    elif fault == "broker":
        await broker("stop")
        await asyncio.sleep(args.broker_down)
        await broker("start")
    elif fault == "kill":
        bus.kill()
        bus.start()
        await bus.ready()


def refuse_ephemeral_broker_port(bootstrap: str) -> None:
    """A broker restarted on a port of the ephemeral range may find it taken: while it is down,
    a client reconnecting on loopback can be given that very port as its own and connect to
    itself. deploy/kafka/kafka's ports (19092, 19093) lie below the range."""
    port = int(bootstrap.split(",", maxsplit=1)[0].rpartition(":")[2])
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    if low <= port <= high:
        raise SystemExit(
            f"--faults broker: the broker's port {port} is in the ephemeral range {low}-{high}, where a "
            "restart can find it taken; run the broker on a lower port (KAFKA_PORT, KAFKA_CONTROLLER_PORT)"
        )


@dataclass
class Sample:
    at: float
    life: int
    memory_mib: float
    descriptors: int


async def soak(args: argparse.Namespace) -> int:
    faults = [fault for fault in args.faults.split(",") if fault]
    unknown = set(faults) - set(FAULTS)
    if unknown or ("broker" in faults and args.transport != "kafka"):
        raise SystemExit(f"--faults: {sorted(unknown) or 'broker'} not available here (choose from {FAULTS})")
    if "broker" in faults:
        refuse_ephemeral_broker_port(os.environ["LIENTHONG_KAFKA_BOOTSTRAP"])
    with tempfile.TemporaryDirectory(prefix="lienthong-soak-") as name:
        folder = Path(name)
        port, receiver_port = free_port(), free_port()
        key = write_config(folder, port, receiver_port, args.transport, args.batch)
        tally = Tally()
        receiver = Receiver(receiver_port, tally)
        await receiver.up()
        bus = Bus(folder, port)
        bus.start()
        await bus.ready()
        run = os.urandom(3).hex()
        stop = asyncio.Event()
        publishing = asyncio.create_task(publish(bus.url, key, run, args.subjects, args.rate, tally, stop))
        started = time.monotonic()
        end = started + args.minutes * 60
        next_fault = started + args.fault_every
        fault_index = 0
        samples: list[Sample] = []
        log_lines = bus.log_lines()
        print(
            f"soak: {args.minutes} min on {args.transport}, {args.rate:g} events/s over {args.subjects} "
            f"dossiers, faults {faults or 'none'} every {args.fault_every:g} s",
            flush=True,
        )
        print("   t s  fault    acked  arrived  dups  order  retries  RSS MiB  fds  log lines", flush=True)
        current = "-"
        injecting: asyncio.Task[None] | None = None
        try:
            while time.monotonic() < end:
                await asyncio.sleep(min(args.sample_every, max(0.0, end - time.monotonic())))
                now = time.monotonic()
                if injecting is not None and injecting.done():
                    injecting.result()
                    injecting, current = None, "-"
                if faults and injecting is None and now >= next_fault and now < end - args.fault_every / 2:
                    current = faults[fault_index % len(faults)]
                    fault_index += 1
                    next_fault = now + args.fault_every
                    injecting = asyncio.create_task(inject(current, args, bus, receiver))
                if bus.process is None or bus.process.poll() is not None:
                    continue  # between a kill and the restart
                lines = bus.log_lines()
                sample = Sample(now - started, bus.lives, bus.memory_mib(), bus.descriptors())
                samples.append(sample)
                print(
                    f"{sample.at:6.0f}  {current:6} {len(tally.acknowledged):8} {len(tally.seen):8} "
                    f"{tally.duplicates:5} {tally.order_violations:6} {tally.retries:8} "
                    f"{sample.memory_mib:8.1f} {sample.descriptors:4} {lines - log_lines:10}",
                    flush=True,
                )
                log_lines = lines
            if injecting is not None:
                await injecting
            stop.set()
            await publishing
            deadline = time.monotonic() + args.drain
            while not tally.acknowledged <= tally.seen and time.monotonic() < deadline:  # noqa: ASYNC110 - the receiver fills a set, no event to wait on
                await asyncio.sleep(1)
        finally:
            stop.set()
            publishing.cancel()
            bus.stop()
            await receiver.down()
        return verdict(args, tally, samples, bus)


def verdict(args: argparse.Namespace, tally: Tally, samples: list[Sample], bus: Bus) -> int:
    lost = len(tally.acknowledged - tally.seen)
    growth = []
    for life in sorted({sample.life for sample in samples}):
        mine = [s for s in samples if s.life == life]
        settled = [s for s in mine if s.at >= mine[0].at + args.warm_up]
        if len(settled) >= 2:
            growth.append(
                (life, settled[0].memory_mib, settled[-1].memory_mib, settled[-1].at - settled[0].at)
            )
    flat = all(last <= first * (1 + args.memory_slack) for _, first, last, _ in growth)
    print(f"\nacknowledged {len(tally.acknowledged)}, arrived {len(tally.seen)} distinct in {tally.arrivals}")
    print(f"  lost              : {lost}")
    print(f"  duplicates        : {tally.duplicates}")
    print(f"  order violations  : {tally.order_violations}")
    print(f"  refused publishes : {tally.refused}, publishes sent again: {tally.retries}")
    for life, first, last, span in growth:
        print(f"  bus life {life}: RSS {first:.1f} -> {last:.1f} MiB over {span:.0f} s")
    ok = lost == 0 and tally.order_violations == 0 and tally.refused == 0 and flat
    print(
        f"{'PASS' if ok else 'FAIL'}: 0 lost, 0 order violations, memory flat within {args.memory_slack:.0%}"
    )
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    kafka = bool(os.environ.get("LIENTHONG_KAFKA_BOOTSTRAP"))
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument(
        "--transport", choices=["kafka", "embedded"], default="kafka" if kafka else "embedded"
    )
    parser.add_argument("--faults", default=",".join(FAULTS if kafka else ("sink", "kill")))
    parser.add_argument("--fault-every", type=float, default=120, help="seconds between fault starts")
    parser.add_argument("--sink-down", type=float, default=45, help="seconds the receiver is down")
    parser.add_argument("--broker-down", type=float, default=10, help="seconds the broker is down")
    parser.add_argument("--rate", type=float, default=200, help="events/s published in all")
    parser.add_argument("--subjects", type=int, default=200, help="dossiers, each in order")
    parser.add_argument("--batch", type=int, default=100, help="events per webhook call")
    parser.add_argument("--sample-every", type=float, default=15)
    parser.add_argument(
        "--warm-up", type=float, default=150, help="seconds of a bus life before memory counts"
    )
    parser.add_argument("--memory-slack", type=float, default=0.2)
    parser.add_argument("--drain", type=float, default=300, help="seconds to wait for the last events")
    args = parser.parse_args()
    if args.minutes <= 0 or args.rate <= 0 or not 1 <= args.subjects <= 9000:
        parser.error("--minutes and --rate must be positive, --subjects from 1 to 9000")
    raise SystemExit(asyncio.run(soak(args)))


if __name__ == "__main__":
    main()
