"""The portal sync for integration tests: the portal simulator, a bus whose configuration has
the portal connector and a subscription delivering to it, and dossier events for whole lives."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from connectors.portal.mapping import portal_date
from simulators.portal import Portal, PortalFaults, create_app, portal_of
from simulators.server import Faults, SimulatorServer
from tests.support.bus import ONESTOP, PORTAL, BusConfig, BusProcess

AGENCY = "000.00.00.H49"
USER_ENV, PASSWORD_ENV = "LIENTHONG_TEST_PORTAL_USER", "LIENTHONG_TEST_PORTAL_PASSWORD"
TYPES = ("dossier.submitted", "dossier.status.changed", "dossier.progress.updated", "dossier.result.issued")
# the lives the tests run dossiers through (statuses after submission at 1)
LIVES: tuple[tuple[int, ...], ...] = (
    (1, 2, 4, 5, 4, 9, 10),
    (1, 2, 4, 9, 10),
    (1, 2, 4, 6, 4, 9, 10),
    (1, 3),
    (1, 2, 4, 5, 8),
    (1, 7),
    (1, 2, 9, 10),
)


def code(number: int, day: str = "240502") -> str:
    return f"{AGENCY}-{day}-{number + 1:04d}"


def now_iso(offset_s: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset_s)).isoformat()


def event(kind: str, dossier: str, data: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": ONESTOP,
        "type": kind,
        "subject": dossier,
        "time": now_iso(),
        "datacontenttype": "application/json",
        "data": data,
    }


def submitted(
    number: int, *, status: int = 1, channel: str = "online", due_in_s: float = 86400.0
) -> dict[str, Any]:
    dossier = code(number)
    data = {
        "dossierCode": dossier,
        "agencyCode": AGENCY,
        "procedureCode": "1.000894",
        "procedureName": "Đăng ký khai sinh",
        "receiptNumber": f"BN-{number:06d}",
        "applicant": {"type": "citizen", "name": f"Nguyễn Văn {number}", "personalId": f"022089{number:06d}"},
        "channel": channel,
        "submittedAt": now_iso(),
        "dueAt": now_iso(due_in_s),
        "status": status,
        "documents": [{"id": "d1", "name": "Tờ khai", "componentCode": "TK01", "digitised": True}],
    }
    return event("dossier.submitted", dossier, data, f"{dossier}#submitted")


def status_changed(number: int, step: int, status: int, *, return_method: str = "online") -> dict[str, Any]:
    dossier = code(number)
    data: dict[str, Any] = {
        "dossierCode": dossier,
        "agencyCode": AGENCY,
        "status": status,
        "changedAt": now_iso(),
    }
    if status == 10:
        data["returnMethod"] = return_method
    return event("dossier.status.changed", dossier, data, f"{dossier}#{step}")


def progress(number: int, step: int, status: int) -> dict[str, Any]:
    dossier = code(number)
    data = {
        "dossierCode": dossier,
        "agencyCode": AGENCY,
        "handler": "Trần Thị B",
        "handledAt": now_iso(),
        "content": f"bước {step}",
        "status": status,
    }
    return event("dossier.progress.updated", dossier, data, f"{dossier}#progress-{step}")


def life_events(number: int, life: Sequence[int]) -> list[dict[str, Any]]:
    """A dossier's events: submitted (status ``life[0]``), then one status change per step."""
    return [submitted(number, status=life[0])] + [
        status_changed(number, step, status) for step, status in enumerate(life[1:], start=1)
    ]


@dataclass
class PortalBusConfig(BusConfig):
    """A test configuration with the portal connector and the ``portal`` subscription."""

    portal_url: str = ""
    portal_options: dict[str, Any] = field(default_factory=dict)
    portal_retry: dict[str, Any] = field(
        default_factory=lambda: {
            "max_attempts": 1000,
            "max_elapsed": "5m",
            "initial_backoff": "20ms",
            "max_backoff": "300ms",
        }
    )
    partitions: int = 8

    def write(self) -> Path:
        path = super().write()
        document = yaml.safe_load(path.read_text())
        document.setdefault("connectors", []).append(
            {
                "name": "portal",
                "kind": "portal",
                "url": self.portal_url,
                "timeout": "2s",
                "deadline": "2s",
                "max_attempts": 1,
                "circuit_breaker": {"failure_threshold": 1000, "reset_timeout": "200ms"},
                "options": {  # an option given as None is left out
                    name: value
                    for name, value in {
                        "agency_code": AGENCY,
                        "username_env": USER_ENV,
                        "password_env": PASSWORD_ENV,
                        "figures_every": "200ms",
                        **self.portal_options,
                    }.items()
                    if value is not None
                },
            }
        )
        document["subscriptions"].append(
            {
                "name": "portal",
                "system": PORTAL,
                "types": list(TYPES),
                "sink": {"connector": {"name": "portal"}},
                "retry": self.portal_retry,
                "circuit_breaker": {"failure_threshold": 5, "reset_timeout": "300ms"},
                "on_dead_letter": "hold_subject",
            }
        )
        path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
        return path


@dataclass
class PortalRig:
    """The portal simulator (in this process) and the bus (a child process) delivering to it."""

    server: SimulatorServer
    app: Any
    portal: Portal
    bus: BusProcess

    @property
    def url(self) -> str:
        return self.server.url

    def publish(self, events: Sequence[dict[str, Any]], chunk: int = 500) -> None:
        with self.bus.client(ONESTOP) as client:
            for start in range(0, len(events), chunk):
                reply = client.post(
                    "/v1/events",
                    content=orjson.dumps(list(events[start : start + chunk])),
                    headers={"Content-Type": "application/cloudevents-batch+json"},
                )
                assert reply.status_code == 202, reply.text

    def stop_portal(self) -> int:
        """Stops the portal (its port refuses connections); returns the port."""
        port = self.server.port
        self.server.stop()
        return port

    def start_portal(self, port: int) -> None:
        """Serves the same portal (same dossiers, logs, sessions) again on ``port``."""
        self.server = SimulatorServer(self.app, port=port).start()

    def dead_letters(self) -> list[dict[str, Any]]:
        with self.bus.client(PORTAL) as client:
            reply = client.get("/v1/subscriptions/portal/dead-letters", params={"limit": 1000})
            reply.raise_for_status()
            letters: list[dict[str, Any]] = reply.json()
            return letters

    def metrics(self) -> str:
        return httpx.get(f"{self.bus.url}/metrics", timeout=10).text

    def metric(self, name: str, labels: str = "") -> float:
        total = 0.0
        for line in self.metrics().splitlines():
            if line.startswith(name + (labels or "")) and (labels or line[len(name)] in " {"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def call_log(self, dossier: str) -> list[dict[str, Any]]:
        reply = httpx.get(f"{self.url}/_sim/log/{dossier}", timeout=10)
        reply.raise_for_status()
        entries: list[dict[str, Any]] = reply.json()
        return entries


@contextmanager
def portal_rig(
    directory: Path,
    monkeypatch: Any,
    *,
    faults: Faults | None = None,
    portal_faults: PortalFaults | None = None,
    options: dict[str, Any] | None = None,
    state: Path | None = None,
) -> Iterator[PortalRig]:
    monkeypatch.setenv(USER_ENV, "lienthong")
    monkeypatch.setenv(PASSWORD_ENV, "demo-password")
    app, sim_state = create_app(faults, portal_faults=portal_faults, state=state)
    server = SimulatorServer(app).start()
    config = PortalBusConfig(directory, portal_url=server.url, portal_options=options or {})
    bus = BusProcess(config)
    rig = PortalRig(server, app, portal_of(sim_state), bus)
    try:
        bus.start()
        yield rig
    finally:
        bus.stop()
        rig.server.stop()


def synced_statuses(log: Sequence[dict[str, Any]]) -> list[int]:
    """The statuses the portal accepted for a dossier, in the order it accepted them."""
    return [int(entry["status"]) for entry in log if entry["service"] == "DongBoHoSoMC" and entry["written"]]


def lives_ended(portal: Portal, lives: Mapping[int, Sequence[int]]) -> Callable[[], bool]:
    """Whether every dossier of ``lives`` is at its life's last status on the portal."""

    def done() -> bool:
        held = portal.store.dossiers
        return all(held.get(code(n), {}).get("TrangThaiHoSo") == str(life[-1]) for n, life in lives.items())

    return done


def assert_lives_synced(
    portal: Portal,
    lives: Mapping[int, Sequence[int]],
    events: Mapping[int, Sequence[dict[str, Any]]],
    *,
    redeliveries: bool = False,
) -> int:
    """What a bus syncing the dossiers' lives leaves on the portal: each record as its events say,
    and the portal's acceptance of exactly the life's statuses, in order, each once. With
    ``redeliveries``, a status written again right after itself (an update the portal took from a
    process killed before it recorded so, sent again by the next owner of the dossier) is allowed
    and counted: the number of such repeats is returned."""
    repeats = 0
    for number, life in lives.items():
        dossier = code(number)
        record = portal.store.dossiers[dossier]
        last = events[number][-1]["data"]
        assert record["MaHoSo"] == dossier
        assert record["DinhDanhCHS"] == [{"LoaiDinhDanh": "1", "SoDinhDanh": f"022089{number:06d}"}]
        assert record["NgayNopHoSo"] == portal_date(events[number][0]["data"]["submittedAt"])
        if life[-1] == 10:
            assert record["NgayTra"] == portal_date(last["changedAt"])
        log = portal.store.log[dossier]
        accepted = synced_statuses(log)
        if redeliveries:  # no life has a status twice in a row: a repeat is the same event again
            kept = [
                status for index, status in enumerate(accepted) if index == 0 or accepted[index - 1] != status
            ]
            repeats += len(accepted) - len(kept)
            accepted = kept
        assert accepted == list(life), (dossier, log)
        assert [e["seq"] for e in log] == sorted(e["seq"] for e in log)
    return repeats
