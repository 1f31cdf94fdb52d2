"""End to end on the embedded transport: HTTP batch publish -> durable append -> routed -> delivered
to a local webhook receiver, against the same rows inserted raw into SQLite, in one run.

Run: ``.venv/bin/python -m bench.end_to_end [--events N] [--batch 500] [--publishers 4]``

Three processes share the machine's cores, as they would on one server: the bus (``lienthong
serve``), the receiver (bench.counting_receiver) and this load generator. The clock runs from the
first publish until the receiver has counted every event. The baseline inserts the same number of
rows, of the same size, into a SQLite table in WAL mode with the same ``synchronous`` setting, one
transaction per batch: the cost of only making the events durable once, with nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from router.directory import new_api_key

SOURCE = "000.00.00.H49/motcua"
SUBSCRIBER = "000.00.00.G22/dvcqg"


def profiled(command: list[str], profile: str) -> list[str]:
    """``command`` under py-spy, recording collapsed stacks (for flame graphs or grep) to ``profile``.

    py-spy is taken from beside the interpreter, so a run from ``.venv/bin/python`` finds the one
    the dev extra installed without an activated environment.
    """
    spy = Path(sys.executable).with_name("py-spy")
    return [
        str(spy) if spy.exists() else "py-spy",
        "record",
        "--format",
        "raw",
        "--output",
        profile,
        "--",
        *command,
    ]


def process_cpu_s(pid: int) -> float:
    """User and system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def event(index: int, run: str, event_id: str | None = None) -> dict[str, Any]:
    """A status change of dossier ``index`` (of 9,000), with the id ``run-index`` unless given."""
    code = f"000.00.00.H49-240502-{index % 9000 + 1:04d}"
    return {
        "specversion": "1.0",
        "id": event_id or f"{run}-{index}",
        "source": SOURCE,
        "type": "dossier.status.changed",
        "subject": code,
        "time": "2024-05-03T10:00:00+07:00",
        "datacontenttype": "application/json",
        "data": {
            "dossierCode": code,
            "agencyCode": "000.00.00.H49",
            "procedureCode": "1.001612.000.00.00.H49",
            "status": 4,
            "previousStatus": 2,
            "changedAt": "2024-05-03T10:00:00+07:00",
            "note": "Chuyển phòng chuyên môn thẩm định hồ sơ",
        },
    }


UNREACHED = {"requests": 1_000_000_000, "per": "1s"}  # a limit per caller that a bench never reaches


def portal_config(transport: dict[str, Any], webhook: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A configuration where the one-stop shop publishes dossier events and the portal's webhook
    subscription receives them: the publisher's API key and the document (no ``http`` section)."""
    key, digest = new_api_key(SOURCE)
    _, portal_digest = new_api_key(SUBSCRIBER)
    document = {
        "version": 1,
        "transport": transport,
        "members": [
            {"code": "000.00.00.H49", "name": "H49", "systems": [{"name": "motcua", "api_keys": [digest]}]},
            {
                "code": "000.00.00.G22",
                "name": "G22",
                "systems": [{"name": "dvcqg", "api_keys": [portal_digest]}],
            },
        ],
        "policies": [
            {"systems": [SOURCE], "publish": ["dossier.*"]},
            {"systems": [SUBSCRIBER], "subscribe": ["dossier.*"]},
        ],
        "subscriptions": [
            {
                "name": "portal",
                "system": SUBSCRIBER,
                "types": ["dossier.status.changed"],
                "sink": {"webhook": webhook},
            }
        ],
        # the load generator is one system sending as fast as the bus takes: the limits are
        # counted (their cost is measured) but never reached
        "limits": {"publish": UNREACHED},
    }
    return key, document


def write_config(folder: Path, port: int, receiver_port: int, batch: int, durability: str) -> str:
    key, document = portal_config(
        {"kind": "embedded", "path": "bench.db", "partitions": 8, "durability": durability},
        {"url": f"http://127.0.0.1:{receiver_port}/events", "batch": batch},
    )
    document["http"] = {"host": "127.0.0.1", "port": port, "max_body": "16MiB", "max_batch": 5000}
    (folder / "bench.yaml").write_text(yaml.safe_dump(document, allow_unicode=True))
    return key


def wait_ready(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit(f"{url}: the process exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not become ready")


async def publish(url: str, key: str, bodies: list[bytes], publishers: int) -> None:
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents-batch+json"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client:

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                reply = await client.post("/v1/events", content=body)
                if reply.status_code != 202:
                    raise SystemExit(f"publish failed: {reply.status_code} {reply.text[:300]}")

        await asyncio.gather(*(worker() for _ in range(publishers)))


@dataclass(frozen=True, slots=True)
class Run:
    rate: float  # events/s end to end
    acknowledged_s: float  # until the last publish was answered
    cpu_per_event_s: dict[str, float]  # by process: bus (None under py-spy), receiver, load generator


def run_bus(
    events: int, batch: int, publish_batch: int, publishers: int, durability: str, profile: str | None = None
) -> Run:
    with tempfile.TemporaryDirectory(prefix="lienthong-bench-") as folder:
        port, receiver_port = free_port(), free_port()
        key = write_config(Path(folder), port, receiver_port, batch, durability)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        log = open(Path(folder) / "bus.log", "wb")  # noqa: SIM115 - closed below
        receiver = subprocess.Popen(
            [sys.executable, "-m", "bench.counting_receiver", "--port", str(receiver_port)]
        )
        command = [sys.executable, "-m", "lienthong", "serve", "--config", str(Path(folder) / "bench.yaml")]
        if profile:
            command = profiled(command, profile)
        bus = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            wait_ready(f"http://127.0.0.1:{receiver_port}/count", receiver)
            wait_ready(f"http://127.0.0.1:{port}/readyz", bus)
            run = os.urandom(4).hex()
            all_events = [event(i, run) for i in range(events)]
            bodies = [
                orjson.dumps(all_events[i : i + publish_batch]) for i in range(0, events, publish_batch)
            ]
            pids = {
                "receiver": receiver.pid,
                **({} if profile else {"bus": bus.pid}),
            }  # py-spy's pid otherwise
            cpu_before = {name: process_cpu_s(pid) for name, pid in pids.items()}
            own_before = time.process_time()
            started = time.perf_counter()
            asyncio.run(publish(f"http://127.0.0.1:{port}", key, bodies, publishers))
            acknowledged = time.perf_counter() - started
            # one kept-alive connection: a new client per poll cost this process ~0.5 core at
            # 100 polls/s, taken from the bus and the receiver on a 2-core machine
            with httpx.Client(base_url=f"http://127.0.0.1:{receiver_port}", timeout=5) as poller:
                while True:
                    counted = poller.get("/count").json()["count"]
                    if counted >= events:
                        break
                    if time.perf_counter() - started > 600:
                        raise SystemExit(f"only {counted} of {events} delivered after 600 s")
                    time.sleep(0.01)
            elapsed = time.perf_counter() - started
            cpu = {name: (process_cpu_s(pid) - cpu_before[name]) / events for name, pid in pids.items()}
            cpu["load generator"] = (time.process_time() - own_before) / events
        finally:
            # py-spy writes its profile on SIGINT; the bus drains and exits on either signal
            bus.send_signal(signal.SIGINT if profile else signal.SIGTERM)
            bus.wait(60)
            receiver.terminate()
            receiver.wait(30)
            log.close()
    return Run(events / elapsed, acknowledged, cpu)


def run_raw_sqlite(events: int, publish_batch: int, durability: str) -> float:
    """Rows/s: the same events, inserted once into SQLite, one transaction per batch."""
    run = os.urandom(4).hex()
    rows = [
        (
            i % 8,
            i,
            e["subject"],
            orjson.dumps(e["data"]),
            orjson.dumps({k: v for k, v in e.items() if k != "data"}),
        )
        for i, e in enumerate(event(i, run) for i in range(events))
    ]
    with tempfile.TemporaryDirectory(prefix="lienthong-bench-") as folder:
        conn = sqlite3.connect(Path(folder) / "raw.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'fsync' else 'NORMAL'}")
        conn.execute(
            "CREATE TABLE log (partition INTEGER, offset INTEGER, key TEXT, value BLOB, headers BLOB,"
            " PRIMARY KEY (partition, offset)) WITHOUT ROWID"
        )
        started = time.perf_counter()
        for i in range(0, events, publish_batch):
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO log VALUES (?, ?, ?, ?, ?)", rows[i : i + publish_batch])
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        conn.close()
    return events / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500, help="events per webhook call")
    parser.add_argument("--publish-batch", type=int, default=500, help="events per publish request")
    parser.add_argument("--publishers", type=int, default=4, help="concurrent publish requests")
    parser.add_argument("--durability", choices=["fsync", "os"], default="fsync")
    parser.add_argument("--profile", metavar="FILE", help="record the bus with py-spy into FILE")
    args = parser.parse_args()
    result = run_bus(
        args.events, args.batch, args.publish_batch, args.publishers, args.durability, args.profile
    )
    rate = result.rate
    raw = run_raw_sqlite(args.events, args.publish_batch, args.durability)
    print(
        f"end to end ({args.events} events, publish batches of {args.publish_batch}, "
        f"webhook batches of {args.batch}, durability {args.durability}, {os.cpu_count()} cores)"
    )
    print(
        f"  lienthong  publish -> durable -> routed -> delivered : {rate:>10,.0f} events/s "
        f"(all acknowledged after {result.acknowledged_s:.2f} s)"
    )
    cpu = ", ".join(f"{name} {seconds * 1e6:.0f}" for name, seconds in result.cpu_per_event_s.items())
    print(f"  CPU per event, us by process                        : {cpu}")
    print(f"  baseline   raw SQLite inserts, one transaction/batch  : {raw:>10,.0f} rows/s")
    print(f"  ratio      lienthong / raw SQLite                     : {rate / raw:>10.3f}")


if __name__ == "__main__":
    main()
