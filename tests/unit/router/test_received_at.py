"""When a result reached the bus is the bus's own time, never the producer's: a result signed with a
certificate that has expired cannot be back-dated in through a Kafka record's timestamp."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

import orjson
import pytest

from adapters.signatures import verify
from connectors.base import ConnectorSettings
from connectors.citizen_store.connector import CitizenStoreConnector, ResultSink
from router.directory import Directory, System
from router.envelope import from_structured, to_message
from router.metrics import NoMetrics
from router.policy import Policy, Rule
from router.ports import AppendResult, Message, StoredMessage, Transport
from router.publishing import EventChecks
from router.received import RECEIVED_AT_HEADER, received_at
from router.routing import InboundChecks, Router
from router.sinks import SinkError
from router.subscriptions import SinkSpec, Subscription
from schemas.registry import SchemaRegistry
from simulators.pki import issue_agency_certificate
from tests.support.bus import ONESTOP, WAREHOUSE
from tests.support.results import AGENCY, AGENCY_NAME, NOW, SigningPki, result

BACK_THEN = NOW - dt.timedelta(days=60)  # the certificate below was valid then, not now
SINK = SinkSpec("connector", {"name": "kho"})


class AppendedMessages:
    """The router's port to the log, recording what it appends."""

    def __init__(self) -> None:
        self.appended: dict[str, list[Message]] = {}

    async def append(
        self, topic: str, messages: Sequence[Message], *, retry_for_s: float | None = None
    ) -> list[AppendResult]:
        self.appended.setdefault(topic, []).extend(messages)
        return [AppendResult(0, n) for n, _ in enumerate(messages)]


def router(log: AppendedMessages, *, checked: bool) -> Router:
    systems = [System(id=s, member=s.split("/")[0], name=s.split("/")[1]) for s in (ONESTOP, WAREHOUSE)]
    policy = Policy(
        [
            Rule(systems=(ONESTOP,), publish=("dossier.*",)),
            Rule(systems=(WAREHOUSE,), subscribe=("dossier.result.issued",)),
        ]
    )
    checks = (
        InboundChecks(Directory(systems), EventChecks(SchemaRegistry.load(), policy)) if checked else None
    )
    subscription = Subscription("kho", WAREHOUSE, ("dossier.result.issued",), (), SINK)
    return Router([subscription], policy, cast(Transport, log), NoMetrics(), checks, clock=NOW.timestamp)


def inbound(data: dict[str, Any], timestamp: dt.datetime, forged: bytes | None = None) -> StoredMessage:
    event = {
        "specversion": "1.0",
        "id": "r-1",
        "source": ONESTOP,
        "type": "dossier.result.issued",
        "dataschema": "urn:lienthong:schema:dossier.result.issued:2",
        "subject": data["dossierCode"],
        "datacontenttype": "application/json",
        "data": data,
    }
    message = to_message(from_structured(event))
    headers = message.headers if forged is None else (*message.headers, (RECEIVED_AT_HEADER, forged))
    return StoredMessage(
        "inbound", 0, 3, message.key, message.value, headers, int(timestamp.timestamp() * 1000)
    )


def delivered(message: Message) -> StoredMessage:
    return StoredMessage(
        "deliver.kho", 0, 0, message.key, message.value, message.headers, message.timestamp_ms
    )


def sink(pki: SigningPki) -> ResultSink:
    settings = ConnectorSettings(name="kho", kind="citizen_store", url="http://127.0.0.1:9")
    built = CitizenStoreConnector(settings, pki.anchors).sink(SINK)
    assert isinstance(built, ResultSink)
    return built


@pytest.fixture(scope="module")
def pki() -> SigningPki:
    return SigningPki()


def back_dated(pki: SigningPki) -> dict[str, Any]:
    """A result issued 60 days ago, signed with a certificate that expired 30 days ago."""
    signer = issue_agency_certificate(
        pki.ca,
        AGENCY,
        AGENCY_NAME,
        not_before=NOW - dt.timedelta(days=400),
        not_after=NOW - dt.timedelta(days=30),
    )
    data = result(issuedAt=BACK_THEN.isoformat(timespec="seconds"))
    return pki.signed(data, signer)


async def test_on_kafka_the_router_stamps_its_own_clock_over_the_producers(pki: SigningPki) -> None:
    log = AppendedMessages()
    forged = str(int(BACK_THEN.timestamp() * 1000)).encode()
    await router(log, checked=True).handle({0: [inbound(back_dated(pki), BACK_THEN, forged)]})
    (routed,) = log.appended["deliver.kho"]
    stamps = [v for k, v in routed.headers if k == RECEIVED_AT_HEADER]
    assert stamps == [str(int(NOW.timestamp() * 1000)).encode()]
    assert received_at(delivered(routed)) == dt.datetime.fromtimestamp(
        int(NOW.timestamp() * 1000) / 1000, dt.UTC
    )


async def test_on_the_embedded_log_the_stamp_is_the_logs_append_time(pki: SigningPki) -> None:
    log = AppendedMessages()
    await router(log, checked=False).handle({0: [inbound(result(), NOW, b"1")]})
    (routed,) = log.appended["deliver.kho"]
    assert [v for k, v in routed.headers if k == RECEIVED_AT_HEADER] == [
        str(int(NOW.timestamp() * 1000)).encode()
    ]


async def test_a_back_dated_result_signed_with_an_expired_certificate_is_refused(pki: SigningPki) -> None:
    signed = back_dated(pki)
    # what the producer claims would pass: the certificate was valid at the record's timestamp
    verify(signed, pki.anchors, agency_code=AGENCY, signed_at=BACK_THEN, received_at=BACK_THEN)
    log = AppendedMessages()
    await router(log, checked=True).handle({0: [inbound(signed, BACK_THEN)]})
    (routed,) = log.appended["deliver.kho"]
    with pytest.raises(SinkError) as caught:
        await sink(pki).send([delivered(routed)], "key")
    assert not caught.value.retryable
    assert str(caught.value).startswith("certificate_expired:")
    assert "when it reached the bus" in str(caught.value)


async def test_a_message_without_the_bus_stamp_is_checked_at_the_sinks_own_time(pki: SigningPki) -> None:
    signed = back_dated(pki)
    message = inbound(signed, BACK_THEN)
    unstamped = StoredMessage(
        "deliver.kho", 0, 0, message.key, message.value, message.headers, message.timestamp_ms
    )
    assert received_at(unstamped) is None
    with pytest.raises(SinkError) as caught:
        await sink(pki).send([unstamped], "key")
    assert "certificate_expired" in str(caught.value)
    assert orjson.loads(unstamped.value)["issuedAt"] == BACK_THEN.isoformat(timespec="seconds")
