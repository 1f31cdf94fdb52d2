"""End to end on the embedded transport: HTTP batch publish -> durable append -> routed -> delivered
to a local webhook receiver, beside the bare pipeline doing the same job, in interleaved rounds.

Run: ``.venv/bin/python -m bench.end_to_end [--events N] [--batch 500,1] [--rounds 2] [--strict]``

Three processes share the machine's cores, as they would on one server: the server (the bus,
``lienthong serve``, or the floor), the receiver (bench.counting_receiver) and this load
generator. The clock runs from the first publish until the receiver has counted every event. The
floor is bench.bare_pipeline: Starlette and uvicorn set up as the bus's server take the batch,
``orjson.loads`` it, insert the rows into SQLite in WAL mode with the bus's ``synchronous`` for the
same durability, and a task reads them back and POSTs them, a webhook batch at a time, with
aiohttp to the same kind of receiver; no validation, routing or dedup. Each round runs the floor,
then the bus, each with fresh processes; a round's ratio is the bus's rate over the floor's, and
the median of the rounds is held against issue 21's target for the webhook batch (500: >= 0.35,
1: >= 0.95). CPU per event is each process's (user + system, from /proc) over the events.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
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

from bench.verdict import AT_LEAST, exit_code, ratio_line
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
    cpu_per_event_s: dict[str, float]  # by process: server (absent under py-spy), receiver, load generator


BUS, FLOOR = "lienthong", "bare pipeline"


def server_command(
    side: str, folder: Path, port: int, receiver_port: int, batch: int, durability: str
) -> tuple[list[str], str]:
    """The command of ``side``'s server and the API key to publish with (the floor takes any)."""
    if side == FLOOR:
        command = [
            *[sys.executable, "-m", "bench.bare_pipeline", "--port", str(port)],
            *["--target", f"http://127.0.0.1:{receiver_port}/events", "--batch", str(batch)],
            *["--durability", durability],
        ]
        return command, "none"
    key = write_config(folder, port, receiver_port, batch, durability)
    return [sys.executable, "-m", "lienthong", "serve", "--config", str(folder / "bench.yaml")], key


def run_side(
    side: str,
    events: int,
    batch: int,
    publish_batch: int,
    publishers: int,
    durability: str,
    profile: str | None = None,
) -> Run:
    """``events`` published to ``side`` (the bus or its floor) and counted at a fresh receiver."""
    with tempfile.TemporaryDirectory(prefix="lienthong-bench-") as folder:
        port, receiver_port = free_port(), free_port()
        command, key = server_command(side, Path(folder), port, receiver_port, batch, durability)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        log = open(Path(folder) / "server.log", "wb")  # noqa: SIM115 - closed below
        receiver = subprocess.Popen(
            [sys.executable, "-m", "bench.counting_receiver", "--port", str(receiver_port)]
        )
        if profile:
            command = profiled(command, profile)
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            wait_ready(f"http://127.0.0.1:{receiver_port}/count", receiver)
            wait_ready(f"http://127.0.0.1:{port}/readyz", server)
            run = os.urandom(4).hex()
            all_events = [event(i, run) for i in range(events)]
            bodies = [
                orjson.dumps(all_events[i : i + publish_batch]) for i in range(0, events, publish_batch)
            ]
            pids = {
                "receiver": receiver.pid,
                **({} if profile else {"server": server.pid}),
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
                        raise SystemExit(f"{side}: only {counted} of {events} delivered after 600 s")
                    time.sleep(0.01)
            elapsed = time.perf_counter() - started
            cpu = {name: (process_cpu_s(pid) - cpu_before[name]) / events for name, pid in pids.items()}
            cpu["load generator"] = (time.process_time() - own_before) / events
        except BaseException:
            log.flush()
            print((Path(folder) / "server.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            # py-spy writes its profile on SIGINT; the bus drains and exits on either signal
            server.send_signal(signal.SIGINT if profile else signal.SIGTERM)
            try:
                server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
            receiver.terminate()
            receiver.wait(30)
            log.close()
    return Run(events / elapsed, acknowledged, cpu)


# the targets of issue 21, by webhook batch: the bus's events/s over the bare pipeline's
TARGETS = {500: 0.35, 1: 0.95}


def compare(args: argparse.Namespace, batch: int, events: int) -> list[float]:
    """Interleaved rounds, floor then bus, at webhook batch ``batch``: each round's ratio."""
    print(
        f"end to end, webhook batches of {batch} ({events} events per side and round, publish batches "
        f"of {args.publish_batch}, {args.publishers} publishers, durability {args.durability}, "
        f"{os.cpu_count()} cores)",
        flush=True,
    )
    ratios = []
    for number in range(args.rounds):
        runs = {}
        for side in (FLOOR, BUS):
            profile = args.profile if side == BUS and number == 0 else None
            runs[side] = run_side(
                side, events, batch, args.publish_batch, args.publishers, args.durability, profile
            )
            result = runs[side]
            cpu = ", ".join(f"{name} {seconds * 1e6:.0f}" for name, seconds in result.cpu_per_event_s.items())
            print(
                f"  round {number + 1} {side:<14} {result.rate:>9,.0f} events/s  (acknowledged after "
                f"{result.acknowledged_s:.2f} s; CPU us/event: {cpu})",
                flush=True,
            )
        ratios.append(runs[BUS].rate / runs[FLOOR].rate)
    return ratios


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=30_000, help="events per side and round, batches > 1")
    parser.add_argument(
        "--single-events", type=int, default=6_000, help="events per side and round, webhook batch 1"
    )
    parser.add_argument(
        "--batch", default="500,1", help="webhook batch sizes to compare at, comma-separated (500,1)"
    )
    parser.add_argument("--publish-batch", type=int, default=500, help="events per publish request")
    parser.add_argument("--publishers", type=int, default=4, help="concurrent publish requests")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds: floor, bus, floor, bus...")
    parser.add_argument("--durability", choices=["fsync", "os"], default="fsync")
    parser.add_argument(
        "--profile", metavar="FILE", help="record the bus's first round with py-spy into FILE"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a ratio misses its target")
    args = parser.parse_args()
    for batch in (int(size) for size in args.batch.split(",") if size.strip()):
        ratios = compare(args, batch, args.events if batch > 1 else args.single_events)
        row = f"end to end, webhook batch {batch}, events/s"
        if batch in TARGETS:
            ratio_line("bench.end_to_end", row, ratios, AT_LEAST, TARGETS[batch])
        else:
            print(f"  ratio {row}: {', '.join(f'{r:.2f}' for r in ratios)} (no target at this batch)")
    return exit_code(args.strict)


if __name__ == "__main__":
    raise SystemExit(main())
