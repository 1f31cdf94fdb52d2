"""The evidence query's logic: policy, cache, minimisation, audit before release, provenance."""

from __future__ import annotations

from typing import Any

import pytest

from router.audit import AuditUnavailable
from router.errors import FieldError
from router.evidence.catalogue import Catalogue, Dataset, PersonalData
from router.evidence.errors import DataRequestDenied, InvalidEvidenceQuery, NoProvider, OfficialRequired
from router.evidence.service import EvidenceQuery, EvidenceService
from router.providers import InvalidProviderReply, ProviderUnavailable, SubjectNotFound
from tests.unit.router.evidence.fakes import (
    CITIZEN,
    FIRM,
    ONESTOP,
    OTHER,
    TAX,
    MemoryAudit,
    Registry,
    catalogue,
    policy,
    registries,
)


class Counted:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []
        self.cache_results: list[tuple[str, bool]] = []

    def request(self, dataset: str, provider: str, outcome: str) -> None:
        self.requests.append((dataset, provider, outcome))

    def provider_latency(self, provider: str, seconds: float) -> None:
        pass

    def cache(self, dataset: str, hit: bool) -> None:
        self.cache_results.append((dataset, hit))

    def fields(self, procedure: str, how: str, count: int) -> None:
        pass


def service(
    audit: MemoryAudit | None = None,
    providers: dict[str, Registry] | None = None,
    identity_class: PersonalData = PersonalData.PERSONAL,
    metrics: Counted | None = None,
    validate: Any = None,
) -> EvidenceService:
    options: dict[str, Any] = {"metrics": metrics}
    if validate is not None:
        options["validate"] = validate
    return EvidenceService(
        catalogue(identity_class=identity_class),
        providers if providers is not None else registries(),
        policy(),
        audit,
        **options,
    )


def ask(dataset: str = "citizen.identity", **changes: Any) -> EvidenceQuery:
    fields: dict[str, Any] = {
        "requester": ONESTOP,
        "official": "can-bo-01",
        "dataset": dataset,
        "key": {"personal_id": CITIZEN} if dataset == "citizen.identity" else {"tax_code": TAX},
        "procedure": "1.002861",
        "dossier": "000.00.00.H49-240501-0001",
        "purpose": "dossier_processing",
    }
    fields.update(changes)
    return EvidenceQuery(**fields)


async def test_released_minimised_for_the_purpose_with_provenance_and_an_access_record() -> None:
    audit = MemoryAudit()
    evidence = await service(audit).query(ask())
    assert evidence.data == {"personalId": CITIZEN, "fullName": "Nguyễn Văn An"}
    assert evidence.provenance.provider == "population"
    assert evidence.provenance.cache_hit is False
    assert evidence.provenance.retrieved_at.endswith("Z")
    [record] = audit.records
    assert (record.requester, record.official, record.subject, record.outcome) == (
        ONESTOP,
        "can-bo-01",
        CITIZEN,
        "released",
    )
    assert record.request_id == evidence.provenance.request_id


async def test_the_second_query_is_a_cache_hit_and_still_audited() -> None:
    audit, metrics, providers = MemoryAudit(), Counted(), registries()
    broker = service(audit, providers, metrics=metrics)
    await broker.query(ask())
    second = await broker.query(ask())
    assert second.provenance.cache_hit is True
    assert len(providers["population"].calls) == 1
    assert [r.cache_hit for r in audit.records] == [False, True]
    assert metrics.cache_results == [("citizen.identity", False), ("citizen.identity", True)]


async def test_sensitive_data_is_never_cached() -> None:
    providers, audit = registries(), MemoryAudit()
    broker = service(audit, providers, identity_class=PersonalData.SENSITIVE)
    await broker.query(ask())
    await broker.query(ask())
    assert len(providers["population"].calls) == 2
    assert len(broker.cache) == 0


async def test_the_cache_holds_the_full_record_and_each_purpose_gets_its_own_fields() -> None:
    broker = service(MemoryAudit())
    await broker.query(ask())
    # the same requester with another purpose is refused by policy...
    with pytest.raises(DataRequestDenied):
        await broker.query(ask(purpose="identity_verification"))
    # ...and the cached record is the provider's whole one
    [entry] = list(broker.cache._entries.values())
    assert entry.record["dateOfBirth"] == "1989-03-04"


async def test_policy_denies_by_default() -> None:
    audit, providers = MemoryAudit(), registries()
    broker = service(audit, providers)
    with pytest.raises(DataRequestDenied):
        await broker.query(ask(requester=OTHER))
    with pytest.raises(DataRequestDenied):
        await broker.query(ask(procedure="1.001612"))
    assert providers["population"].calls == []
    assert [r.outcome for r in audit.records] == ["data_request_denied", "data_request_denied"]


async def test_personal_data_needs_an_official_public_data_does_not() -> None:
    audit = MemoryAudit()
    broker = service(audit)
    with pytest.raises(OfficialRequired):
        await broker.query(ask(official=""))
    # the refused attempt is in the person's record, with no official to name
    [(subject, official, outcome)] = [(r.subject, r.official, r.outcome) for r in audit.records]
    assert (subject, official, outcome) == (CITIZEN, "", "official_required")
    evidence = await broker.query(ask("business.registration", official=""))
    assert evidence.data == FIRM


async def test_no_audit_log_withholds_personal_data() -> None:
    audit = MemoryAudit()
    audit.down = True
    providers = registries()
    broker = service(audit, providers)
    with pytest.raises(AuditUnavailable):
        await broker.query(ask())
    assert len(providers["population"].calls) == 1  # fetched, but not released
    with pytest.raises(AuditUnavailable):
        await service(None).query(ask())
    # public data needs no access record
    assert (await broker.query(ask("business.registration"))).data == FIRM


async def test_provider_errors_pass_through_and_are_recorded() -> None:
    audit, metrics, providers = MemoryAudit(), Counted(), registries()
    providers["population"].failures["citizen.identity"] = [
        ProviderUnavailable("down", provider="population")
    ]
    broker = service(audit, providers, metrics=metrics)
    with pytest.raises(ProviderUnavailable):
        await broker.query(ask())
    with pytest.raises(SubjectNotFound):
        await broker.query(ask(key={"personal_id": "022089009999"}))
    assert [r.outcome for r in audit.records] == ["provider_unavailable", "subject_not_found"]
    assert [m[2] for m in metrics.requests] == ["provider_unavailable", "subject_not_found"]


async def test_a_reply_that_breaks_its_schema_is_not_released() -> None:
    def validate(dataset: str, data: Any) -> tuple[FieldError, ...]:
        return (FieldError("/sex", "must be M or F"),)

    with pytest.raises(InvalidProviderReply) as caught:
        await service(MemoryAudit(), validate=validate).query(ask())
    assert "/sex" in caught.value.detail


async def test_the_key_must_fit_the_dataset() -> None:
    broker = service(MemoryAudit())
    with pytest.raises(InvalidEvidenceQuery) as caught:
        await broker.query(ask(key={"tax_code": TAX}))
    assert {e.pointer for e in caught.value.errors} == {"/subject/personal_id", "/subject/tax_code"}


async def test_a_dataset_without_its_provider_is_unavailable() -> None:
    with pytest.raises(NoProvider):
        await service(MemoryAudit(), providers={}).query(ask())


async def test_a_procedure_of_the_catalogue_gets_only_the_datasets_it_needs() -> None:
    broker = service(MemoryAudit())
    # the residence registration needs the applicant's identity, not a business registration
    with pytest.raises(DataRequestDenied, match=r"1\.004194 does not need business\.registration"):
        await broker.query(ask("business.registration", procedure="1.004194"))
    assert (await broker.query(ask(procedure="1.004194"))).data["personalId"] == CITIZEN
    # a procedure outside the catalogue is the policy's call alone (it lists 9.999999)
    assert (await broker.query(ask("business.registration", procedure="9.999999"))).data


async def test_personal_data_is_released_for_a_named_dossier_only() -> None:
    audit = MemoryAudit()
    with pytest.raises(InvalidEvidenceQuery) as caught:
        await service(audit).query(ask(dossier=" "))
    assert [e.pointer for e in caught.value.errors] == ["/dossier"]
    # refused before anything was fetched; the attempt is recorded all the same
    assert [(r.subject, r.outcome) for r in audit.records] == [(CITIZEN, "invalid_evidence_query")]
    # data that is about no person needs no dossier
    assert (await service(MemoryAudit()).query(ask("business.registration", dossier=""))).data


async def test_a_thing_looked_up_is_audited_under_its_holder_when_the_record_names_one() -> None:
    # A vehicle is keyed by its plate; its owner is whose data it is, so the owner's access
    # report must show the lookup. A lookup that found nothing stays under the plate.
    vehicles = Dataset(
        name="vehicle.registration",
        provider="vehicle",
        key=("plate",),
        personal_data=PersonalData.PERSONAL,
        fields={"dossier_processing": ("plate",)},
        subject_in_record="/owner/id",
    )
    registry = Registry(
        "vehicle", {"vehicle.registration": {"73A-123.45": {"plate": "73A-123.45", "owner": {"id": CITIZEN}}}}
    )
    audit = MemoryAudit()
    broker = EvidenceService(Catalogue.of([vehicles], []), {"vehicle": registry}, policy(), audit)
    released = await broker.query(
        ask("vehicle.registration", key={"plate": "73A-123.45"}, procedure="9.999999")
    )
    assert released.data == {"plate": "73A-123.45"}  # the owner is not released to this purpose
    with pytest.raises(SubjectNotFound):
        await broker.query(ask("vehicle.registration", key={"plate": "73A-999.99"}, procedure="9.999999"))
    assert [(r.subject, r.outcome) for r in audit.records] == [
        (CITIZEN, "released"),
        ("73A-999.99", "subject_not_found"),
    ]


@pytest.mark.parametrize(
    ("dataset", "key"),
    [
        ("citizen.identity", {"personal_id": "12345"}),
        ("citizen.identity", {"personal_id": "001099O12345"}),
        ("business.registration", {"tax_code": "0100109107"}),  # a wrong check digit
    ],
)
async def test_a_malformed_identifier_never_reaches_the_provider_or_the_log(
    dataset: str, key: dict[str, str]
) -> None:
    audit, providers = MemoryAudit(), registries()
    with pytest.raises(InvalidEvidenceQuery) as caught:
        await service(audit, providers).query(ask(dataset, key=key))
    [error] = caught.value.errors
    assert error.pointer == f"/subject/{next(iter(key))}" and error.message.startswith("is not a")
    assert all(not p.calls for p in providers.values()) and audit.records == []
