"""A result produced straight into the inbound topic with a back-dated record timestamp, signed
with a certificate that has expired since but was valid then, is refused: the bus checks the
certificate at its own time of arrival, never the producer's timestamp (router.received)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaProducer

from router.envelope import from_structured, to_message
from router.received import RECEIVED_AT_HEADER
from simulators.citizen_store import ResultStore, create_app
from simulators.pki import issue_agency_certificate
from simulators.server import SimulatorServer
from tests.support.bus import ONESTOP, OPERATOR, WAREHOUSE, BusConfig, BusProcess
from tests.support.kafka import kafka_bootstrap, on_kafka, unique
from tests.support.results import AGENCY, AGENCY_NAME, NOW, SigningPki, result

pytestmark = pytest.mark.kafka

SUBSCRIPTION = "citizen-store"
BACK_THEN = NOW - dt.timedelta(days=60)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def back_dated(pki: SigningPki) -> dict[str, Any]:
    signer = issue_agency_certificate(
        pki.ca,
        AGENCY,
        AGENCY_NAME,
        not_before=NOW - dt.timedelta(days=400),
        not_after=NOW - dt.timedelta(days=30),
    )
    return pki.signed(result(71, issuedAt=BACK_THEN.isoformat(timespec="seconds")), signer)


async def test_a_back_dated_record_signed_with_an_expired_certificate_is_refused(tmp_path: Path) -> None:
    pki = SigningPki()
    anchors = pki.write_anchors(tmp_path)
    app, _ = create_app(store=ResultStore(tmp_path / "store.db"))
    store = SimulatorServer(app).start()
    namespace = unique("backdated") + "."
    config = BusConfig(
        tmp_path,
        transport=on_kafka(namespace),
        extra_policies=[{"systems": [WAREHOUSE], "subscribe": ["dossier.result.issued"]}],
        sections={
            "connectors": [
                {
                    "name": "kho",
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
            "sink": {"connector": {"name": "kho"}},
        }
    )
    data = back_dated(pki)
    event = {
        "specversion": "1.0",
        "id": "back-dated-1",
        "source": ONESTOP,
        "type": "dossier.result.issued",
        "subject": data["dossierCode"],
        "datacontenttype": "application/json",
        "data": data,
    }
    message = to_message(from_structured(event))
    # the producer also forges the bus's own stamp: the router replaces it
    headers = [*message.headers, (RECEIVED_AT_HEADER, str(int(BACK_THEN.timestamp() * 1000)).encode())]
    try:
        with BusProcess(config) as bus:
            producer = AIOKafkaProducer(bootstrap_servers=list(kafka_bootstrap()), acks="all")
            await producer.start()
            try:
                await producer.send_and_wait(
                    f"{namespace}inbound",
                    message.value,
                    key=message.key.encode(),
                    headers=headers,
                    timestamp_ms=int(BACK_THEN.timestamp() * 1000),
                )
            finally:
                await producer.stop()

            def letters() -> list[dict[str, Any]]:
                with bus.client(OPERATOR) as operator:
                    found: list[dict[str, Any]] = operator.get(
                        f"/v1/subscriptions/{SUBSCRIPTION}/dead-letters"
                    ).json()
                return found

            wait_until(lambda: any(d["event_id"] == "back-dated-1" for d in letters()), "the dead letter")
            letter = next(d for d in letters() if d["event_id"] == "back-dated-1")
            assert "certificate_expired" in orjson.dumps(letter).decode()
            assert "when it reached the bus" in orjson.dumps(letter).decode()
        stored = httpx.get(f"{store.url}/_sim/results", timeout=5).json()["results"]
        assert stored == []
    finally:
        store.stop()
