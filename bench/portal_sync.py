"""Status events synchronised per second to the portal simulator through the bus, against the
same portal calls made by a plain sequential script, in one run.

Run: ``.venv/bin/python -m bench.portal_sync [--dossiers 1000] [--changes 4] [--latency 0.02]``

Each dossier is submitted (the bus: ``TraCuuHoSo``, then ``DongBoHoSoMC`` create) and then
changes status ``--changes`` times (``DongBoHoSoMC`` update each). The portal simulator runs in a
process of its own (``lienthong simulate portal``), like the bus (``lienthong serve``) and this
load generator. The bus's clock runs from the first publish until the portal acknowledged every
event (``lienthong_portal_sync_lag_seconds_count`` on /metrics). The baseline is the integration
the portal's guide describes, written as most are: one process logs in and, for each event in
turn, makes the same calls (look-up and create, or update) and waits for each reply.

``--latency`` is added by the simulator to every reply: the real portal is a remote service, so
a call's round trip, not the CPU, is what a sequential integration waits on; 0 measures the CPU
cost of the two paths on loopback instead.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from bench.end_to_end import free_port, wait_ready
from connectors.portal import mapping, protocol
from router.directory import new_api_key
from simulators.portal import PASSWORD, USERNAME

SOURCE = "000.00.00.H49/motcua"
PORTAL_SYSTEM = "000.00.00.G22/dvcqg"
AGENCY = "000.00.00.H49"
LIFE = (1, 2, 4, 5, 4, 6, 4, 9, 10)
NOW = "2024-05-02T08:30:00+07:00"


def dossier_code(day: str, number: int) -> str:
    return f"{AGENCY}-{day}-{number + 1:04d}"


def events_of(day: str, number: int, changes: int) -> list[dict[str, Any]]:
    dossier = dossier_code(day, number)
    base = {"specversion": "1.0", "source": SOURCE, "subject": dossier, "datacontenttype": "application/json"}
    out = [
        {
            **base,
            "id": f"{dossier}#0",
            "type": "dossier.submitted",
            "data": {
                "dossierCode": dossier,
                "agencyCode": AGENCY,
                "procedureCode": "1.000894",
                "procedureName": "Đăng ký khai sinh",
                "applicant": {"type": "citizen", "name": "Nguyễn Văn A", "personalId": f"022089{number:06d}"},
                "channel": "online",
                "submittedAt": NOW,
                "dueAt": "2024-05-10T17:00:00+07:00",
                "status": 1,
            },
        }
    ]
    for step in range(1, changes + 1):
        out.append(
            {
                **base,
                "id": f"{dossier}#{step}",
                "type": "dossier.status.changed",
                "data": {
                    "dossierCode": dossier,
                    "agencyCode": AGENCY,
                    "status": LIFE[step],
                    "changedAt": NOW,
                },
            }
        )
    return out


def start_portal(port: int, latency_s: float) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lienthong",
            "simulate",
            "portal",
            "--port",
            str(port),
            "--latency",
            str(latency_s),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sim/stats", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the portal simulator did not start")


def write_config(folder: Path, port: int, portal_port: int) -> tuple[Path, str]:
    key, digest = new_api_key(SOURCE)
    config = {
        "version": 1,
        "transport": {"kind": "embedded", "path": "bus.db", "partitions": 8, "durability": "os"},
        "http": {"host": "127.0.0.1", "port": port},
        "members": [
            {"code": AGENCY, "name": "bench", "systems": [{"name": "motcua", "api_keys": [digest]}]},
            {"code": "000.00.00.G22", "name": "portal", "systems": [{"name": "dvcqg"}]},
        ],
        "policies": [
            {"systems": [SOURCE], "publish": ["dossier.*"]},
            {"systems": [PORTAL_SYSTEM], "subscribe": ["dossier.*"]},
        ],
        "connectors": [
            {
                "name": "portal",
                "kind": "portal",
                "url": f"http://127.0.0.1:{portal_port}",
                "max_attempts": 1,
                "options": {
                    "agency_code": AGENCY,
                    "username_env": "BENCH_PORTAL_USER",
                    "password_env": "BENCH_PORTAL_PASSWORD",
                },
            }
        ],
        "subscriptions": [
            {
                "name": "portal",
                "system": PORTAL_SYSTEM,
                "types": ["dossier.submitted", "dossier.status.changed"],
                "sink": {"connector": {"name": "portal"}},
                "on_dead_letter": "hold_subject",
            }
        ],
    }
    path = folder / "lienthong.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, key


def synced(url: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith("lienthong_portal_sync_lag_seconds_count"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def run_bus(portal_port: int, dossiers: int, changes: int) -> float:
    """Events per second the bus synchronised to the portal."""
    events = [e for n in range(dossiers) for e in events_of("240502", n, changes)]
    # published step by step across dossiers, as agencies' systems would
    ordered = sorted(events, key=lambda e: int(e["id"].rsplit("#", 1)[1]))
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        path, key = write_config(Path(folder), port, portal_port)
        env = {**os.environ, "BENCH_PORTAL_USER": USERNAME, "BENCH_PORTAL_PASSWORD": PASSWORD}
        bus = subprocess.Popen(
            [sys.executable, "-m", "lienthong", "serve", "--config", str(path), "--log-format", "json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(f"{url}/readyz", bus)
            started = time.perf_counter()
            with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60) as client:
                for start in range(0, len(ordered), 1000):
                    reply = client.post(
                        "/v1/events",
                        content=orjson.dumps(ordered[start : start + 1000]),
                        headers={"Content-Type": "application/cloudevents-batch+json"},
                    )
                    reply.raise_for_status()
            while synced(url) < len(events):
                time.sleep(0.05)
            return len(events) / (time.perf_counter() - started)
        finally:
            bus.send_signal(signal.SIGTERM)
            bus.wait(30)


def run_sequential(portal_port: int, dossiers: int, changes: int) -> float:
    """Events per second a plain script pushes to the portal, one call after another."""
    events = [e for n in range(dossiers) for e in events_of("240503", n, changes)]
    ordered = sorted(events, key=lambda e: int(e["id"].rsplit("#", 1)[1]))
    records: dict[str, dict[str, Any]] = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{portal_port}", timeout=30) as http:
        started = time.perf_counter()
        session = http.post(protocol.AUTH_PATH, json={"username": USERNAME, "password": PASSWORD}).json()[
            "session"
        ]

        def call(service: str, **fields: Any) -> dict[str, Any]:
            body = {"session": session, "madonvi": AGENCY, "service": service, **fields}
            reply: dict[str, Any] = http.post(protocol.INTEGRATION_PATH, json=body).json()
            return reply

        for event in ordered:
            data = event["data"]
            dossier = data["dossierCode"]
            if event["type"] == "dossier.submitted":
                records[dossier] = mapping.submitted_record(data)
                exists = bool(call(protocol.LOOKUP, mahoso=dossier).get("result"))
            else:
                records[dossier] = mapping.apply_status(records[dossier], data)
                exists = True
            reply = call(protocol.SYNC, isUpdating="True" if exists else "False", data=[records[dossier]])
            assert protocol.code_of(reply["error_code"]) in protocol.DEFAULT_SUCCESS, reply
        return len(events) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dossiers", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=4, help="status changes per dossier (at most 8)")
    parser.add_argument(
        "--latency",
        type=float,
        default=0.02,
        help="seconds the simulator adds to every reply: the real portal is across the internet (default 0.02)",
    )
    args = parser.parse_args()
    changes = max(1, min(args.changes, len(LIFE) - 1))
    portal_port = free_port()
    portal = start_portal(portal_port, args.latency)
    try:
        baseline = run_sequential(portal_port, args.dossiers, changes)
        bus = run_bus(portal_port, args.dossiers, changes)
    finally:
        portal.send_signal(signal.SIGTERM)
        portal.wait(10)
    events = args.dossiers * (1 + changes)
    print(
        f"portal sync: {events} events ({args.dossiers} dossiers, {changes} status changes each), "
        f"portal latency {args.latency * 1000:.0f} ms"
    )
    print(f"  sequential script (same calls): {baseline:8.0f} events/s")
    print(f"  bus (lienthong serve):          {bus:8.0f} events/s")
    print(f"  ratio bus / sequential:         {bus / baseline:8.2f}")


if __name__ == "__main__":
    main()
