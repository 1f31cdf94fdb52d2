"""Results into the citizen data store, end to end: the bus under uvicorn in a child process, the
store simulator as a real server (its records in a file). A signed result is stored; each kind of
bad signature is dead-lettered with its reason and never reaches the store; a store that is down
is retried until it is back; a stored result is then served as dataset ``result.document``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from adapters.signatures import verify
from connectors.base import ConnectorDeps, ConnectorSettings
from connectors.citizen_store import mapping
from connectors.citizen_store.connector import from_settings
from router.providers import DataRequest, InvalidProviderReply, InvalidProviderRequest, SubjectNotFound
from schemas.dataset_schemas import shipped
from simulators.citizen_store import ResultStore, create_app
from simulators.server import SimulatorServer
from tests.support.bus import ONESTOP, OPERATOR, WAREHOUSE, BusConfig, BusProcess, free_port
from tests.support.results import HOLDER_ID, PROCEDURE, SigningPki, result

SUBSCRIPTION = "citizen-store"
CONNECTOR = "khocongdan"
STRUCTURED = {"Content-Type": "application/cloudevents+json"}


@dataclass
class StoreServer:
    """The store simulator on a fixed port, stoppable and restartable with the same records."""

    path: Path
    port: int = field(default_factory=free_port)
    server: SimulatorServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        app, _ = create_app(store=ResultStore(self.path))
        self.server = SimulatorServer(app, port=self.port).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def records(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = httpx.get(f"{self.url}/_sim/results", timeout=5).json()["results"]
        return found

    def codes(self) -> list[str]:
        return [r["soHieuKetQua"] for r in self.records()]


@dataclass
class Stage:
    pki: SigningPki
    store: StoreServer
    bus: BusProcess
    anchors: Path
    published: int = 0

    def publish(self, data: dict[str, Any]) -> str:
        self.published += 1
        event_id = f"result-{self.published}"
        event = {
            "specversion": "1.0",
            "id": event_id,
            "source": ONESTOP,
            "type": "dossier.result.issued",
            "subject": data["dossierCode"],
            "datacontenttype": "application/json",
            "data": data,
        }
        with self.bus.client(ONESTOP) as client:
            reply = client.post("/v1/events", json=event, headers=STRUCTURED)
        assert reply.status_code == 202, reply.text
        return event_id

    def dead_letters(self) -> list[dict[str, Any]]:
        with self.bus.client(OPERATOR) as operator:
            letters: list[dict[str, Any]] = operator.get(
                f"/v1/subscriptions/{SUBSCRIPTION}/dead-letters"
            ).json()
        return letters

    def attempts(self, result: str) -> float:
        with self.bus.client(OPERATOR) as operator:
            text = operator.get("/metrics").text
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "lienthong_delivery_attempts_total"
            and s.labels == {"subscription": SUBSCRIPTION, "result": result}
        )


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def stage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    folder = tmp_path_factory.mktemp("citizen-store")
    pki = SigningPki()
    anchors = pki.write_anchors(folder)
    store = StoreServer(folder / "store.db")
    store.start()
    config = BusConfig(
        folder,
        extra_policies=[{"systems": [WAREHOUSE], "subscribe": ["dossier.result.issued"]}],
        sections={
            "connectors": [
                {
                    "name": CONNECTOR,
                    "kind": "citizen_store",
                    "url": store.url,
                    "timeout": "2s",
                    "options": {"trust_anchors": anchors.name},
                }
            ]
        },
    )
    config.subscriptions.append(
        {
            "name": SUBSCRIPTION,
            "system": WAREHOUSE,
            "types": ["dossier.result.issued"],
            "sink": {"connector": {"name": CONNECTOR}},
            "retry": {
                "max_attempts": 200,
                "max_elapsed": "60s",
                "initial_backoff": "20ms",
                "max_backoff": "200ms",
            },
            "circuit_breaker": {"failure_threshold": 1000, "reset_timeout": "100ms"},
        }
    )
    bus = BusProcess(config).start()
    try:
        yield Stage(pki, store, bus, anchors)
    finally:
        bus.stop()
        store.stop()


def test_a_signed_result_is_verified_and_stored(stage: Stage) -> None:
    data = stage.pki.signed(result(1))
    stage.publish(data)
    wait_until(lambda: "1/GP-UBND" in stage.store.codes(), "the result in the store")
    record = next(r for r in stage.store.records() if r["soHieuKetQua"] == "1/GP-UBND")
    assert record["vanBanKy"] == data
    assert record["chuSoHuu"]["soDinhDanh"] == HOLDER_ID and record["maTTHC"] == PROCEDURE
    assert record["xacThucChuKy"]["trangThai"] == "verified"
    # the store's own search finds it by holder and procedure
    found = httpx.get(
        f"{stage.store.url}/api/v1/results", params={"holder": HOLDER_ID, "procedure": PROCEDURE}, timeout=5
    ).json()["results"]
    assert "1/GP-UBND" in [r["soHieuKetQua"] for r in found]


@pytest.mark.parametrize(
    ("number", "forge", "reason", "words"),
    [
        (11, SigningPki.tampered, "signature_invalid", "changed after signing"),
        (12, SigningPki.wrong_key, "signature_invalid", "signed with another key"),
        (13, SigningPki.expired, "certificate_expired", "expired on"),
        (14, SigningPki.other_agency, "certificate_agency_mismatch", "000.00.00.H56"),
        (15, SigningPki.untrusted, "certificate_untrusted", "does not chain to a trusted"),
    ],
)
def test_a_bad_signature_is_dead_lettered_with_its_reason_and_never_stored(
    stage: Stage,
    number: int,
    forge: Callable[[SigningPki, dict[str, Any]], dict[str, Any]],
    reason: str,
    words: str,
) -> None:
    event_id = stage.publish(forge(stage.pki, result(number)))

    def letter() -> dict[str, Any] | None:
        return next((d for d in stage.dead_letters() if d["event_id"] == event_id), None)

    wait_until(lambda: letter() is not None, f"the dead letter of {event_id}")
    found = letter()
    assert found is not None
    assert found["reason"] == "rejected_by_sink"  # refused, not retried
    assert found["attempts"] == 1
    assert found["last_error"].startswith(f"{reason}: ") and words in found["last_error"]
    assert f"{number}/GP-UBND" not in stage.store.codes()


async def test_the_stored_result_is_served_as_dataset(stage: Stage) -> None:
    data = stage.pki.signed(result(21, procedureCode="1.000894", validUntil="2099-01-01T00:00:00+07:00"))
    stage.publish(data)
    wait_until(lambda: "21/GP-UBND" in stage.store.codes(), "the result in the store")
    connector = from_settings(
        ConnectorSettings(
            name=CONNECTOR,
            kind="citizen_store",
            url=stage.store.url,
            options={"trust_anchors": str(stage.anchors)},
        ),
        ConnectorDeps(CollectorRegistry(), stage.anchors.parent),
    )
    provider = connector.provider()

    async def fetch(**key: str) -> dict[str, Any]:
        return await provider.fetch(DataRequest("result.document", key))

    try:
        document = await fetch(holder=HOLDER_ID, procedure="1.000894")
        assert shipped().validate("result.document", document) == ()
        assert document["resultCode"] == "21/GP-UBND"
        assert document["signature"]["status"] == "verified"
        assert document["documents"][0]["sha256"] == data["documents"][0]["sha256"]
        assert (await fetch(result_code="21/GP-UBND"))["dossierCode"] == data["dossierCode"]
        # the key's kind names what was asked, never its values (they reach the problem reply)
        with pytest.raises(SubjectNotFound) as absent:
            await fetch(holder="001099012345", procedure="1.000894")
        assert "personal ID" in absent.value.detail and "001099012345" not in absent.value.detail
        with pytest.raises(SubjectNotFound) as unknown:
            await fetch(result_code="99/GP-UBND")
        assert "99/GP-UBND" not in unknown.value.detail
        with pytest.raises(InvalidProviderRequest) as malformed:
            await fetch(holder="Nguyen Van A 0010", procedure="1.000894")
        assert "Nguyen" not in malformed.value.detail
        # a record altered inside the store is not served as verified
        record = next(r for r in stage.store.records() if r["soHieuKetQua"] == "21/GP-UBND")
        httpx.patch(
            f"{stage.store.url}/_sim/results/{record['id']}",
            json={"holder": {"personalId": "001099012345", "name": "Kẻ Mạo Danh"}},
            timeout=5,
        ).raise_for_status()
        with pytest.raises(InvalidProviderReply) as caught:
            await fetch(result_code="21/GP-UBND")
        assert "no longer verifies: signature_invalid" in caught.value.detail
        assert "21/GP-UBND" not in caught.value.detail
    finally:
        await connector.aclose()


def test_the_store_down_is_retried_and_the_result_stored_when_it_is_back(stage: Stage) -> None:
    stage.store.stop()  # really stopped: connections are refused
    before = stage.attempts("retryable_error")
    event_id = stage.publish(stage.pki.signed(result(31)))
    wait_until(
        lambda: stage.attempts("retryable_error") >= before + 2, "failed attempts while the store is down"
    )
    stage.store.start()  # the same port, the same records file
    wait_until(lambda: "31/GP-UBND" in stage.store.codes(), "the result in the store after its return")
    assert stage.store.codes().count("31/GP-UBND") == 1
    assert event_id not in [d["event_id"] for d in stage.dead_letters()]


def test_the_store_keeps_one_result_per_agency_and_number(tmp_path: Path) -> None:
    pki = SigningPki()
    data = pki.signed(result(41))
    record = mapping.store_record(
        data,
        verify(
            data,
            pki.anchors,
            agency_code=data["issuingAgency"]["code"],
            signed_at=mapping.instant(data["issuedAt"], "issuedAt"),
            received_at=mapping.instant(data["issuedAt"], "issuedAt"),
        ),
    )
    store = StoreServer(tmp_path / "store.db")
    store.start()
    try:
        url = f"{store.url}/api/v1/results"
        first = httpx.post(url, json=record, timeout=5)
        again = httpx.post(url, json=record, timeout=5)
        other = httpx.post(url, json={**record, "trichYeu": "another title"}, timeout=5)
        assert (first.status_code, first.json()["created"]) == (201, True)
        assert (again.status_code, again.json()) == (200, {"id": first.json()["id"], "created": False})
        assert other.status_code == 409 and other.json()["code"] == "result_exists"
        store.stop()
        store.start()  # the records are in the file
        assert store.codes() == ["41/GP-UBND"]
    finally:
        store.stop()


async def test_a_household_business_result_is_stored_under_its_owners_personal_id(stage: Stage) -> None:
    # since 1 July 2025 a household business's tax code is its owner's personal ID:
    # dossier.result.issued v3 carries it as the holder's tax code, and the store keeps it
    holder = {"taxCode": HOLDER_ID, "name": "Hộ kinh doanh Đỗ Ngọc Yến"}
    data = stage.pki.signed(result(41, procedureCode="1.002861", holder=holder))
    stage.publish(data)
    wait_until(lambda: "41/GP-UBND" in stage.store.codes(), "the result in the store")
    record = next(r for r in stage.store.records() if r["soHieuKetQua"] == "41/GP-UBND")
    assert record["chuSoHuu"]["maSoThue"] == HOLDER_ID
    connector = from_settings(
        ConnectorSettings(
            name=CONNECTOR,
            kind="citizen_store",
            url=stage.store.url,
            options={"trust_anchors": str(stage.anchors)},
        ),
        ConnectorDeps(CollectorRegistry(), stage.anchors.parent),
    )
    try:
        document = await connector.provider().fetch(
            DataRequest("result.document", {"holder": HOLDER_ID, "procedure": "1.002861"})
        )
    finally:
        await connector.aclose()
    assert document["resultCode"] == "41/GP-UBND"
    assert document["holder"] == holder
    assert shipped().validate("result.document", document) == ()
    assert shipped().validate("result.document", document, version=1) != ()  # v1: enterprises only
