"""The demo's story, played on the stage: a transport company applies for a transport business
licence, then for badges for its vehicles, at the province's one-stop shop.

Everything goes through the running bus and the simulators as real servers: the one-stop system
publishes with its demo API key (examples/demo-keys.env), and its official and the citizen are named
to the bus by tokens of the DEMO identity provider (simulators/identity.py), which the example
configuration trusts; what the scenario reports is read back
from the simulators (evidence received, the portal's records, the store's results, request
counts) and from the bus's API (stats, access log), never assumed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import statistics
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from adapters.audit.queries import MAX_LIMIT, records
from adapters.audit.tables import connect
from adapters.signatures import sign
from adapters.signer_files import read_signer
from connectors.portal.protocol import SYNC
from lienthong.config import Settings
from lienthong.demo.narrator import Narrator, StepFailed
from lienthong.demo.stage import Stage
from simulators.identity import mint_token
from simulators.onestop import mapping
from simulators.onestop.client import OneStopClient, Refused
from simulators.registry_data import Enterprise, build

LICENCE = ("1.002861", "Cấp Giấy phép kinh doanh vận tải bằng xe ô tô")
BADGE = ("1.002856", "Cấp phù hiệu xe ô tô kinh doanh vận tải")
WAIT_S = 30.0
OFFICIAL = "canbo.motcua.01"  # the one-stop shop's official, as the DEMO sign-on names them
T = TypeVar("T")


@dataclass(frozen=True)
class SyncTiming:
    """One status reaching the portal: the bus's 202 for its event, as the one-stop system saw it,
    and the portal simulator's record of when it received the call that wrote it, both in seconds
    since the epoch on this machine's clock (the demo runs the simulators beside itself)."""

    dossier: str
    status: int
    acknowledged_at: float
    portal_received_at: float

    @property
    def lag_ms(self) -> float:
        return (self.portal_received_at - self.acknowledged_at) * 1000


@dataclass
class Figures:
    """What the summary says, each figure read back from a simulator or the bus."""

    dossiers: dict[str, str] = field(default_factory=dict)  # licence/badge -> dossier code
    pulled: dict[str, int] = field(default_factory=dict)  # dataset -> items found automatically
    to_ask: int = 0  # items the applicant would still have had to provide
    calls: dict[str, int] = field(default_factory=dict)  # simulator -> requests it served
    statuses_synchronised: int = 0
    # each status's sync, timed from the portal simulator's record of when it received the call
    syncs: list[SyncTiming] = field(default_factory=list)
    portal_unsynced: int | None = None
    audit: dict[str, int] = field(default_factory=dict)  # dataset -> audit records of this run
    result_code: str = ""
    result_stored: bool = False
    result_reused: bool = False
    # how the bus knew the official and the citizen reading (official_basis of their audit records)
    official_basis: str = ""
    reader_basis: str = ""

    def as_dict(self) -> dict[str, Any]:
        lags = [sync.lag_ms for sync in self.syncs]
        return {
            "dossiers": self.dossiers,
            "items_pulled": sum(self.pulled.values()),
            "items_pulled_by_dataset": self.pulled,
            "items_to_ask": self.to_ask,
            "calls": self.calls,
            "statuses_synchronised": self.statuses_synchronised,
            "sync_lag_ms": {
                "median": round(statistics.median(lags), 1) if lags else None,
                "max": round(max(lags), 1) if lags else None,
            },
            "syncs": [asdict(sync) for sync in self.syncs],
            "portal_unsynced_dossiers": self.portal_unsynced,
            "audit_entries": sum(self.audit.values()),
            "audit_entries_by_dataset": self.audit,
            "result": {"code": self.result_code, "stored": self.result_stored, "reused": self.result_reused},
            "official_basis": self.official_basis,
            "access_report_reader_basis": self.reader_basis,
        }


def demo_keys(folder: Path) -> dict[str, str]:
    """``LIENTHONG_DEMO_KEY_<SYSTEM>`` lines of demo-keys.env, by lower-case system name."""
    keys = {}
    for line in (folder / "demo-keys.env").read_text("utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and name.startswith("LIENTHONG_DEMO_KEY_"):
            keys[name.removeprefix("LIENTHONG_DEMO_KEY_").lower()] = value.strip()
    return keys


# The example's province, Quảng Bình, merged into Quảng Trị on 1 July 2025: head offices recorded
# before name the one, those recorded since the other (docs/identifiers.md).
PROVINCES = ("Quảng Bình", "Quảng Trị")


def transport_company() -> tuple[Enterprise, list[str]]:
    """An active enterprise of the seeded registries with a transport line and vehicles, registered
    in the example's province if one is."""
    registry = build()
    firms = sorted(registry.enterprises, key=lambda firm: firm.address.province not in PROVINCES)
    for firm in firms:
        plates = [v.plate for v in registry.vehicles if v.owner_id == firm.tax_code]
        transport = any(line.code in {"4931", "4932", "4933"} for line in firm.lines)
        if firm.status == "active" and transport and len(plates) >= 2 and registry.licence(firm.tax_code):
            return firm, plates
    raise StepFailed("the seeded registries hold no transport company")


def next_sequences(folder: Path, today: dt.date, count: int) -> list[int]:
    """Fresh dossier numbers for today: the bus keeps its log across runs, and a code met again
    would be a second life of an old dossier."""
    path = folder / "demo-dossiers.json"
    try:
        seen = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        seen = {}
    start = int(seen.get("next", 1)) if seen.get("date") == today.isoformat() else 1
    if start + count > mapping.MAX_SEQUENCE:
        start = 1
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"date": today.isoformat(), "next": start + count}), "utf-8")
    return list(range(start, start + count))


def written_at(log: list[dict[str, Any]], status: int) -> float | None:
    """When the portal received the first call that wrote ``status`` (its call log's
    ``received_at``); None while none has."""
    for entry in log:
        if (
            entry.get("service") == SYNC
            and entry.get("written")
            and str(entry.get("status")).lstrip("0") == str(status)
            and isinstance(entry.get("received_at"), int | float)
        ):
            return float(entry["received_at"])
    return None


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = WAIT_S) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        found = probe()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise StepFailed(f"{what}: not seen within {timeout_s:.0f} s")
        time.sleep(0.05)


class Scenario:
    def __init__(self, stage: Stage, narrator: Narrator) -> None:
        assert stage.settings is not None
        self.stage = stage
        self.settings: Settings = stage.settings
        self.say = narrator
        self.figures = Figures()
        self.http = httpx.Client(timeout=10)
        folder = stage.config.parent
        self.keys = demo_keys(folder)
        self.systems = {s.name: s for s in self.settings.systems}
        self.onestop = self._system("motcua")
        member = self.settings.directory.get(self.onestop)
        self.agency = self.onestop.split("/")[0]
        self.agency_name = member.member_name if member is not None else self.agency
        self.run_id = uuid.uuid4().hex[:8]
        self.client = OneStopClient(stage.bus_url, self.onestop, self.keys["motcua"])
        self.portal = OneStopClient(stage.bus_url, self._system("dvcqg"), self.keys["dvcqg"])
        self.firm, self.plates = transport_company()
        state = self.settings.transport.path.parent if self.settings.transport.path else folder
        self.state_folder = state
        self._event_no = 0

    def _system(self, name: str) -> str:
        for system in self.settings.systems:
            if system.name == name:
                return system.id
        raise StepFailed(f"the configuration has no system named {name!r}")

    def _actor_url(self, system: str) -> str:
        for actor in self.stage.actors.values():
            if actor.system == system and (system != "onestop" or actor.name == self.onestop):
                return actor.url
        raise StepFailed(f"no {system} simulator on the stage")

    def _get(self, url: str, **params: str) -> Any:
        reply = self.http.get(url, params=params)
        return reply.json() if reply.status_code == 200 else None

    def _publish(self, event_type: str, data: Mapping[str, Any]) -> float:
        """Publishes one event; when the bus acknowledged it (202), in seconds since the epoch."""
        self._event_no += 1
        self.client.publish(f"demo-{self.run_id}-{self._event_no}", event_type, data)
        return time.time()

    # --- the story ---

    def play(self) -> Figures:
        say = self.say
        now = dt.datetime.now(dt.UTC)
        licence_no, badge_no = next_sequences(self.state_folder, now.astimezone(mapping.VIETNAM).date(), 2)
        today = now.astimezone(mapping.VIETNAM).date()
        applicant = mapping.Applicant(self.firm.tax_code, self.firm.name)
        licence = mapping.Dossier(
            code=mapping.dossier_code(self.agency, today, licence_no),
            agency=self.agency,
            procedure=LICENCE[0],
            procedure_name=LICENCE[1],
            applicant=applicant,
            submitted_at=now,
            manager_id=self.firm.legal_representative,
            plates=tuple(self.plates),
        )
        badge = mapping.Dossier(
            code=mapping.dossier_code(self.agency, today, badge_no),
            agency=self.agency,
            procedure=BADGE[0],
            procedure_name=BADGE[1],
            applicant=applicant,
            submitted_at=now,
            plates=tuple(self.plates),
        )
        self.figures.dossiers = {"licence": licence.code, "badge": badge.code}

        say.heading(f"1. {self.firm.name} (tax code {self.firm.tax_code}) applies for a transport licence")
        say.say(
            f"   at the one-stop shop of {self.agency_name} ({self.agency}): procedure {LICENCE[0]} "
            f"{LICENCE[1]},\n   naming its transport manager and {len(self.plates)} vehicles "
            f"({', '.join(self.plates)}); no copies of papers attached."
        )
        with say.step(f"the one-stop system submits dossier {licence.code}") as step:
            submitted_at = self._publish("dossier.submitted", mapping.submitted(licence))
            step.note("dossier.submitted accepted by the bus (202)")
        self._collected(licence, expect_reuse=False)
        self._synced(licence, 1, "the portal shows the new dossier (status 1, registered)", submitted_at)

        say.heading("2. The province processes the dossier; every change reaches the national portal")
        self._move(licence, 2, 1, "accepted")
        self._official_checks(licence)
        with say.step("an official records progress (dossier.progress.updated)") as step:
            at = dt.datetime.now(dt.UTC)
            self._publish(
                "dossier.progress.updated",
                mapping.progress_updated(
                    licence, 4, "Nguyễn Thị Hà", "Chuyên viên", "Sở Xây dựng", "Thẩm định hồ sơ", at
                ),
            )
            step.note("handler, department and step sent")
        self._move(licence, 4, 2, "in progress")
        self._move(licence, 9, 4, "processed")

        say.heading("3. The licence is issued, signed and stored for reuse")
        result_code = f"{licence_no:04d}/GPKDVT-{self.run_id[:4].upper()}"
        self.figures.result_code = result_code
        with say.step("the province signs the licence with its (DEMO) key") as step:
            signed = self._signed_licence(licence, result_code)
            step.note(f"{signed['signature']['algorithm']}, result {result_code}")
        with say.step("the one-stop system publishes dossier.result.issued") as step:
            self._publish("dossier.result.issued", signed)
            step.note("accepted (202)")
        with say.step(
            "the bus verifies the signature and stores the licence in the citizen data store"
        ) as step:
            store = self._actor_url("citizen_store")
            record = wait_for(
                "the licence in the citizen data store",
                lambda: next(
                    (
                        r
                        for r in (self._get(f"{store}/_sim/results") or {}).get("results", [])
                        if r.get("soHieuKetQua") == result_code
                    ),
                    None,
                ),
            )
            check = record["xacThucChuKy"]
            if check.get("trangThai") != "verified":
                raise StepFailed(f"the store holds the licence unverified: {check}")
            self.figures.result_stored = True
            step.note(f"record {record['id'][:12]}…, signature {check['trangThai']} ({check['nguoiKy']})")
        self._move(licence, 10, 9, "result returned")

        say.heading("4. Later, the same company applies for badges for its vehicles")
        with say.step(f"the one-stop system submits dossier {badge.code} ({BADGE[0]})") as step:
            submitted_at = self._publish("dossier.submitted", mapping.submitted(badge))
            step.note(f"{len(self.plates)} vehicles, the licence not attached")
        self._collected(badge, expect_reuse=True)
        self._synced(badge, 1, "the portal shows the badge dossier", submitted_at)
        self._move(badge, 2, 1, "accepted")
        self._move(badge, 9, 2, "processed")
        self._move(badge, 10, 9, "badges returned")

        say.heading("5. The transport manager sees who accessed their data, at the national portal")
        self._access_report(licence)
        return self.figures

    def _official_checks(self, dossier: mapping.Dossier) -> None:
        with self.say.step(
            f"official {OFFICIAL}, signed in at the DEMO sign-on, opens the manager's identity record"
        ) as step:
            query = {
                "dataset": "citizen.identity",
                "subject": {"personal_id": self.firm.legal_representative},
                "procedure": dossier.procedure,
                "dossier": dossier.code,
                "purpose": "dossier_processing",
            }
            try:
                answer = self.client.query_evidence(query, mint_token(OFFICIAL))
            except Refused as error:
                raise StepFailed(f"the evidence query was refused: {error}") from None
            step.note(
                f"released by {answer['provenance']['provider']} (X-Official-Token verified by the bus)"
            )

    def _access_report(self, dossier: mapping.Dossier) -> None:
        subject = self.firm.legal_representative
        # the portal names the logged-in citizen by their sign-on's pseudonymous id, never the ID number
        citizen = "vneid:" + hashlib.sha256(subject.encode()).hexdigest()[:16]
        with self.say.step("the portal reads the access report with the citizen's identity token") as step:
            try:
                report = self.portal.access_log(subject, mint_token(citizen))
            except Refused as error:
                raise StepFailed(f"the access report was refused: {error}") from None
            entries = report.get("entries", [])
            ours = [e for e in entries if e.get("dossier") == dossier.code and e.get("official") == OFFICIAL]
            if not ours:
                raise StepFailed(f"the report does not show {OFFICIAL}'s reading for {dossier.code}")
            self.figures.official_basis = str(ours[0].get("official_basis", ""))
            if not self.figures.official_basis.startswith("verified:"):
                raise StepFailed(f"{OFFICIAL} is recorded as {self.figures.official_basis or 'unnamed'}")
            step.note(f"{len(entries)} entries; {OFFICIAL} recorded as {self.figures.official_basis}")
        with self.say.step("the reading itself is in the report, the citizen verified too") as step:
            again = self.portal.access_log(subject, mint_token(citizen)).get("entries", [])
            reading = next((e for e in again if e.get("official") == citizen), None)
            if reading is None:
                raise StepFailed("the report does not show the citizen's own reading")
            self.figures.reader_basis = str(reading.get("official_basis", ""))
            step.note(f"{reading.get('purpose')}, recorded as {self.figures.reader_basis}")

    def _collected(self, dossier: mapping.Dossier, *, expect_reuse: bool) -> None:
        receiver = self._actor_url("onestop")
        with self.say.step("the bus collects what the agencies already hold") as step:
            events = wait_for(
                "dossier.evidence.collected at the one-stop system",
                lambda: (
                    (
                        self._get(
                            f"{receiver}/_sim/events", type="dossier.evidence.collected", subject=dossier.code
                        )
                        or {}
                    ).get("events")
                    or None
                ),
            )
            data = events[0]["data"]
            found = data.get("found", [])
            for item in found:
                self.figures.pulled[item["dataset"]] = self.figures.pulled.get(item["dataset"], 0) + 1
            self.figures.to_ask += len(data.get("toAsk", []))
            providers = sorted({item["provenance"]["provider"] for item in found})
            names = ", ".join(f"{item['dataset']}" for item in found)
            step.note(
                f"{len(found)} items from {', '.join(providers)} ({names}); {len(data.get('toAsk', []))} to ask"
            )
            if data.get("toAsk") or data.get("notFound"):
                raise StepFailed(f"not everything was found: {data.get('notFound')} {data.get('toAsk')}")
        if expect_reuse:
            with self.say.step("the licence issued earlier comes from the citizen data store") as step:
                reused = next((i for i in found if i["dataset"] == "result.document"), None)
                if reused is None or reused["data"].get("resultCode") != self.figures.result_code:
                    raise StepFailed("the evidence has no result.document with the licence issued above")
                self.figures.result_reused = True
                step.note(f"result.document {reused['data']['resultCode']}, signed by {self.agency}")

    def _synced(self, dossier: mapping.Dossier, status: int, title: str, acknowledged_at: float) -> None:
        """Waits until the portal holds ``status``; the lag is the portal simulator's own record of
        when it received the call that wrote it, less the 202 of the event (``acknowledged_at``):
        the wait's polling only says when to read that record."""
        portal = self._actor_url("portal")
        with self.say.step(title) as step:
            received_at = wait_for(
                f"status {status} of {dossier.code} at the portal",
                lambda: written_at(self._get(f"{portal}/_sim/log/{dossier.code}") or [], status),
            )
            sync = SyncTiming(dossier.code, status, acknowledged_at, received_at)
            self.figures.syncs.append(sync)
            self.figures.statuses_synchronised += 1
            step.note(f"TrangThaiHoSo = {status}, received by the portal {sync.lag_ms:.1f} ms after the 202")

    def _move(self, dossier: mapping.Dossier, status: int, previous: int, meaning: str) -> None:
        at = dt.datetime.now(dt.UTC)
        acknowledged_at = self._publish(
            "dossier.status.changed", mapping.status_changed(dossier, status, previous, at)
        )
        self._synced(
            dossier, status, f"status {previous} → {status} ({meaning}) reaches the portal", acknowledged_at
        )

    def _signed_licence(self, dossier: mapping.Dossier, result_code: str) -> dict[str, Any]:
        anchors = next(
            (c.options.get("trust_anchors") for c in self.settings.connectors if c.kind == "citizen_store"),
            None,
        )
        if anchors is None:
            raise StepFailed("no citizen_store connector with trust_anchors in the configuration")
        folder = (self.stage.config.parent / str(anchors)).parent
        stem = folder / f"demo-agency-{self.agency.replace('.', '-')}"
        if not stem.with_suffix(".key").exists():
            raise StepFailed(
                f"no DEMO signing key {stem}.key: make it with "
                f"`lienthong results demo-pki {folder} --agency {self.agency}`"
            )
        issued = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        data = mapping.result_issued(
            dossier,
            result_code=result_code,
            title="Giấy phép kinh doanh vận tải bằng xe ô tô",
            issuing_agency={"code": self.agency, "name": self.agency_name},
            issued_at=issued,
            valid_until=issued + dt.timedelta(days=7 * 365),
            document_url=f"https://dichvucong.example.gov.vn/ketqua/{dossier.code}.pdf",
            document_sha256=hashlib.sha256(f"licence {result_code}".encode()).hexdigest(),
        )
        return sign(data, read_signer(stem.with_suffix(".key"), stem.with_suffix(".pem")))

    def _audited(self, dossiers: set[str]) -> dict[str, int]:
        """The audit log's records of this run's dossiers, by dataset (read-only, as
        ``lienthong audit show`` reads it while the bus writes)."""
        path = self.settings.audit.path
        if not path.is_file():
            return {}
        conn = connect(path, busy_timeout_s=5.0, writer=False)
        try:
            found = records(conn, None, limit=MAX_LIMIT, before=None)
        finally:
            conn.close()
        by_dataset: dict[str, int] = {}
        for record in found:
            if record.dossier in dossiers:
                by_dataset[record.dataset] = by_dataset.get(record.dataset, 0) + 1
        return by_dataset

    # --- the figures read back at the end ---

    def count(self) -> Figures:
        figures = self.figures
        for actor in self.stage.actors.values():
            stats = self._get(f"{actor.url}/_sim/stats") or {}
            figures.calls[actor.name] = int(stats.get("requests", 0))
        operator = self.http.get(
            f"{self.stage.bus_url}/v1/stats", headers={"Authorization": f"Bearer {self.keys['vanhanh']}"}
        )
        if operator.status_code == 200:
            figures.portal_unsynced = sum(p["unsynced_dossiers"] for p in operator.json()["portal"])
        figures.audit = self._audited(set(figures.dossiers.values()))
        return figures

    def close(self) -> None:
        self.client.close()
        self.portal.close()
        self.http.close()
