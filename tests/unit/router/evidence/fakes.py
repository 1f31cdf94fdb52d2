"""In-memory stand-ins for the evidence broker's ports, for unit tests of its logic only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from router.audit import AccessRecord, AuditUnavailable
from router.evidence.catalogue import Catalogue, Dataset, Need, PersonalData, Procedure
from router.policy import DataGrant, Policy, Rule
from router.providers import DataRequest, ProviderError, SubjectNotFound

ONESTOP = "000.00.00.H49/motcua"
OTHER = "000.00.00.H56/motcua"
CITIZEN = "022089001234"
TAX = "0100109106"


class Registry:
    """A provider answering from dicts; ``failures`` raise instead, in order, per dataset."""

    def __init__(self, name: str, records: dict[str, dict[str, dict[str, Any]]]) -> None:
        self.name = name
        self.records = records  # dataset -> identifier -> record
        self.datasets = frozenset(records)
        self.calls: list[DataRequest] = []
        self.failures: dict[str, list[ProviderError]] = {}

    async def fetch(self, request: DataRequest) -> dict[str, Any]:
        self.calls.append(request)
        queued = self.failures.get(request.dataset)
        if queued:
            raise queued.pop(0)
        found = self.records[request.dataset].get(next(iter(request.key.values())))
        if found is None:
            raise SubjectNotFound("no such record", provider=self.name)
        return dict(found)

    async def aclose(self) -> None:
        pass


class MemoryAudit:
    """Records in a list; ``down`` makes writing fail as a real store's outage does."""

    def __init__(self) -> None:
        self.records: list[AccessRecord] = []
        self.down = False

    async def record(self, records: Sequence[AccessRecord]) -> None:
        if self.down:
            raise AuditUnavailable("the audit store is down")
        self.records.extend(records)


IDENTITY = {
    "personalId": CITIZEN,
    "fullName": "Nguyễn Văn An",
    "familyName": "Nguyễn",
    "middleName": "Văn",
    "givenName": "An",
    "sex": "M",
    "dateOfBirth": "1989-03-04",
}
FIRM = {"taxCode": TAX, "name": "Công ty TNHH An", "status": "active"}


def catalogue(*, identity_class: PersonalData = PersonalData.PERSONAL) -> Catalogue:
    return Catalogue.of(
        [
            Dataset(
                name="citizen.identity",
                provider="population",
                key=("personal_id",),
                personal_data=identity_class,
                fields={"dossier_processing": ("personalId", "fullName"), "identity_verification": None},
                cache_ttl_s=600.0,
            ),
            Dataset(
                name="business.registration",
                provider="business",
                key=("tax_code",),
                personal_data=PersonalData.NONE,
                fields={"dossier_processing": None},
                cache_ttl_s=3600.0,
            ),
        ],
        [
            Procedure(
                code="1.002861",
                name="Cấp Giấy phép kinh doanh vận tải bằng xe ô tô",
                purpose="dossier_processing",
                needs=(
                    Need("business.registration", {"tax_code": "/applicant/taxCode"}, "Giấy CN ĐKDN"),
                    Need("citizen.identity", {"personal_id": "/representative/personalId"}, "CCCD"),
                ),
            ),
            Procedure(
                code="1.004194",
                name="Đăng ký thường trú",
                purpose="dossier_processing",
                needs=(Need("citizen.identity", {"personal_id": "/applicant/personalId"}, "CCCD"),),
            ),
        ],
    )


def policy() -> Policy:
    return Policy(
        [
            Rule(
                systems=(ONESTOP,),
                requests=(
                    DataGrant(
                        datasets=frozenset({"*"}),
                        purposes=frozenset({"dossier_processing"}),
                        procedures=frozenset({"1.002861", "1.004194", "9.999999"}),
                    ),
                ),
            )
        ]
    )


def registries() -> dict[str, Registry]:
    return {
        "population": Registry("population", {"citizen.identity": {CITIZEN: IDENTITY}}),
        "business": Registry("business", {"business.registration": {TAX: FIRM}}),
    }
