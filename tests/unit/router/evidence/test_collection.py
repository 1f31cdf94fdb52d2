"""Collecting a dossier's evidence: what is published, when delivery is asked to retry, and the
event's contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from router.envelope import CloudEvent
from router.evidence.collection import COLLECTED, EvidenceCollector, collection_id
from router.evidence.service import EvidenceService
from router.providers import ProviderTimeout, ProviderUnavailable
from router.publishing import Accepted
from router.sinks import SinkError
from router.subscriptions import RetryPolicy
from schemas.registry import SchemaRegistry
from tests.support.messages import stored
from tests.unit.router.evidence.fakes import (
    CITIZEN,
    ONESTOP,
    TAX,
    MemoryAudit,
    Registry,
    catalogue,
    policy,
    registries,
)

BROKER = "000.00.00.H49/truclienthong"
CODE = "000.00.00.H49-240501-0001"


class Publisher:
    def __init__(self) -> None:
        self.published: list[CloudEvent] = []
        self.seen: set[str] = set()
        self.keeps_ids = True

    async def publish(self, system_id: str, events: Sequence[CloudEvent], batch: bool) -> list[Accepted]:
        assert system_id == BROKER
        accepted = []
        for event in events:
            accepted.append(Accepted(event.id, event.id in self.seen))
            if event.id not in self.seen:
                self.seen.add(event.id)
                self.published.append(event)
        return accepted

    async def accepted_before(self, source: str, event_id: str) -> bool:
        # a transport that keeps dedup ids (the embedded log); keeps_ids=False is Kafka
        return self.keeps_ids and source == BROKER and event_id in self.seen


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def submitted(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "dossierCode": CODE,
        "agencyCode": "000.00.00.H49",
        "procedureCode": "1.002861",
        "applicant": {"type": "business", "name": "Công ty TNHH An", "taxCode": TAX},
        "representative": {"personalId": CITIZEN, "role": "transport_manager"},
        "submittedAt": "2024-05-01T08:00:00+07:00",
    }
    data.update(changes)
    return data


def collector(
    providers: dict[str, Registry] | None = None, retry: RetryPolicy | None = None, clock: Clock | None = None
) -> tuple[EvidenceCollector, Publisher]:
    service = EvidenceService(catalogue(), providers or registries(), policy(), MemoryAudit())
    publisher = Publisher()
    sink = EvidenceCollector(
        service,
        publisher,
        BROKER,
        retry or RetryPolicy(max_attempts=3, max_elapsed_s=60, initial_backoff_s=0.1, max_backoff_s=1),
        clock=clock or Clock(),
    )
    return sink, publisher


def message(data: dict[str, Any]) -> Any:
    return stored("e1", CODE, data=data, event_type="dossier.submitted", source=ONESTOP)


def check_contract(event: CloudEvent) -> None:
    registry = SchemaRegistry.load(None, "BACKWARD")
    assert registry.validate(registry.resolve(COLLECTED, None), event.data) == ()


async def test_everything_found_is_published_once_for_the_submitting_system() -> None:
    sink, publisher = collector()
    await sink.send([message(submitted())], "k")
    await sink.send([message(submitted())], "k")  # a redelivery: the same event id
    # collected once: the redelivery read no one's data again, so nothing more is recorded
    assert [r.outcome for r in released(sink)] == ["released"]
    [event] = publisher.published
    check_contract(event)
    assert (event.id, event.source, event.subject) == (collection_id(CODE), BROKER, CODE)
    assert event.extensions["recipient"] == ONESTOP
    data = event.data
    assert data["complete"] is True and data["notFound"] == [] and data["toAsk"] == []
    assert {f["dataset"] for f in data["found"]} == {"business.registration", "citizen.identity"}
    identity = next(f for f in data["found"] if f["dataset"] == "citizen.identity")
    assert identity["data"] == {"personalId": CITIZEN, "fullName": "Nguyễn Văn An"}  # minimised


async def test_missing_identifiers_and_unknown_subjects_are_asked_of_the_applicant() -> None:
    sink, publisher = collector()
    dossier = submitted(applicant={"type": "business", "name": "X", "taxCode": "0101000006"})
    del dossier["representative"]
    await sink.send([message(dossier)], "k")
    [event] = publisher.published
    check_contract(event)
    reasons = {e["dataset"]: e["reason"] for e in event.data["notFound"]}
    assert reasons == {"business.registration": "subject_not_found", "citizen.identity": "missing_key"}
    assert {a["document"] for a in event.data["toAsk"]} == {"Giấy CN ĐKDN", "CCCD"}
    assert event.data["complete"] is False


async def test_a_failure_that_may_pass_asks_delivery_to_retry_then_the_last_attempt_publishes() -> None:
    providers = registries()
    providers["population"].failures["citizen.identity"] = [
        ProviderUnavailable("down", provider="population"),
        ProviderTimeout("slow", provider="population"),
        ProviderUnavailable("down", provider="population"),
    ]
    sink, publisher = collector(providers)
    for _ in range(2):
        with pytest.raises(SinkError) as caught:
            await sink.send([message(submitted())], "k")
        # the collector works: the retry must not open the subscription's circuit
        assert caught.value.retryable and caught.value.sink_healthy
    assert publisher.published == []
    await sink.send([message(submitted())], "k")  # the third and last attempt
    [event] = publisher.published
    check_contract(event)
    assert [f["dataset"] for f in event.data["found"]] == ["business.registration"]
    assert event.data["notFound"][0]["reason"] == "provider_unavailable"
    # the business registration was fetched once: the retries took it from the cache
    assert len(providers["business"].calls) == 1


async def test_a_retry_that_succeeds_publishes_everything() -> None:
    providers = registries()
    providers["population"].failures["citizen.identity"] = [
        ProviderUnavailable("down", provider="population")
    ]
    sink, publisher = collector(providers)
    with pytest.raises(SinkError):
        await sink.send([message(submitted())], "k")
    await sink.send([message(submitted())], "k")
    [event] = publisher.published
    assert event.data["complete"] is True


async def test_the_time_budget_makes_an_attempt_the_last() -> None:
    providers, clock = registries(), Clock()
    providers["population"].failures["citizen.identity"] = [
        ProviderUnavailable("down", provider="population")
    ]
    retry = RetryPolicy(max_attempts=10, max_elapsed_s=5, initial_backoff_s=1, max_backoff_s=4)
    sink, publisher = collector(providers, retry, clock)
    with pytest.raises(SinkError):
        await sink.send([message(submitted())], "k")
    providers["population"].failures["citizen.identity"] = [
        ProviderUnavailable("down", provider="population")
    ]
    clock.now = 3.5  # 3.5 s spent + a pause of up to 2 s > 5 s: no attempt would follow
    await sink.send([message(submitted())], "k")
    [event] = publisher.published
    assert event.data["complete"] is False


async def test_other_events_and_unknown_procedures_publish_nothing() -> None:
    sink, publisher = collector()
    await sink.send([message(submitted(procedureCode="1.000894"))], "k")
    other = stored("e2", CODE, data={"dossierCode": CODE}, event_type="dossier.status.changed")
    await sink.send([other], "k")
    assert publisher.published == []


class CountedFields:
    def __init__(self) -> None:
        self.counted: list[tuple[str, str, int]] = []

    def fields_of(self, how: str) -> int:
        return sum(count for _, h, count in self.counted if h == how)

    def request(self, dataset: str, provider: str, outcome: str) -> None: ...

    def cache(self, dataset: str, hit: bool) -> None: ...

    def provider_latency(self, provider: str, seconds: float) -> None: ...

    def fields(self, procedure: str, how: str, count: int) -> None:
        self.counted.append((procedure, how, count))


async def test_filled_and_asked_fields_are_counted_in_one_unit() -> None:
    # The identity's purpose sees 2 named fields; the business registration's sees the whole
    # record ("*"), 7 top-level fields by its schema: found or not, a dataset counts the same.
    metrics = CountedFields()
    service = EvidenceService(catalogue(), registries(), policy(), MemoryAudit())
    sink = EvidenceCollector(
        service,
        Publisher(),
        BROKER,
        RetryPolicy(max_attempts=3, max_elapsed_s=60, initial_backoff_s=0.1, max_backoff_s=1),
        clock=Clock(),
        metrics=metrics,
        record_fields={"business.registration": 7},
    )
    unknown_firm = submitted(applicant={"type": "business", "name": "X", "taxCode": "0101000006"})
    await sink.send([message(unknown_firm)], "k")
    assert (metrics.fields_of("auto"), metrics.fields_of("asked")) == (2, 7)


async def test_without_dedup_ids_a_redelivery_collects_again() -> None:
    # Kafka keeps no dedup ids: the check finds nothing, and the collection is done again
    sink, publisher = collector()
    publisher.keeps_ids = False
    await sink.send([message(submitted())], "k")
    await sink.send([message(submitted())], "k")
    assert [r.outcome for r in released(sink)] == ["released", "released"]


def released(sink: EvidenceCollector) -> list[Any]:
    """The access records of the collector's queries for personal data."""
    audit = sink.service.audit
    assert isinstance(audit, MemoryAudit)
    return [r for r in audit.records if r.dataset == "citizen.identity"]
