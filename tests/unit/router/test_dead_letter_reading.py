"""Reading dead letters that hold released personal data is an access: which records it makes,
and that the bus writes them before the letters are shown, or withholds the letters."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from router.audit import AccessRecord, AuditUnavailable
from router.bus import Bus
from router.dead_letter_reading import DeadLetterReading, inspection_records
from router.directory import System
from router.evidence.catalogue import Dataset, PersonalData
from router.ports import DeadLetter, StoredMessage
from tests.support.dead_letters import MemoryDeadLetters

OPERATOR = System("000.00.00.H49/vanhanh", "000.00.00.H49", "vanhanh")
CITIZEN, OWNER, OTHER = "001099012345", "001099054321", "001099099999"
DATASETS = {
    "citizen.identity": Dataset(
        "citizen.identity", "population", ("personal_id",), PersonalData.PERSONAL, {}
    ),
    "vehicle.registration": Dataset(
        "vehicle.registration",
        "vehicle",
        ("plate",),
        PersonalData.PERSONAL,
        {},
        subject_in_record="/owner/id",
    ),
    "business.registration": Dataset(
        "business.registration", "business", ("tax_code",), PersonalData.NONE, {}
    ),
}


def found(dataset: str, key: dict[str, str], data: dict[str, Any]) -> dict[str, Any]:
    provenance = {
        "provider": dataset.partition(".")[0],
        "retrievedAt": "2026-11-27T03:12:45Z",
        "cacheHit": False,
    }
    return {"dataset": dataset, "key": key, "data": data, "provenance": provenance | {"requestId": "r-1"}}


def letter(n: int, event_type: str, data: dict[str, Any], raw: bytes | None = None) -> DeadLetter:
    message = StoredMessage(
        "sub.onestop-evidence", 0, n, "000.00.00.H49-261127-0001", orjson.dumps(data) if raw is None else raw,
        (("ce_type", event_type.encode()), ("ce_id", f"e-{n}".encode())), 0,
    )  # fmt: skip
    return DeadLetter(n, "onestop-evidence", f"e-{n}", "d", "budget_exhausted", 3, "HTTP 503", 0, message)


COLLECTION = {
    "dossierCode": "000.00.00.H49-261127-0001",
    "procedureCode": "1.002861",
    "found": [
        found("citizen.identity", {"personal_id": CITIZEN}, {"fullName": "Nguyễn Văn A"}),
        found("vehicle.registration", {"plate": "73A-123.45"}, {"owner": {"id": OWNER}}),
        found("business.registration", {"tax_code": "3100123456"}, {"name": "Công ty X"}),
        found("removed.dataset", {"personal_id": OTHER}, {}),
    ],
    "notFound": [{"dataset": "citizen.residence", "reason": "provider_timeout"}],
}


def records(letters: Sequence[DeadLetter]) -> list[AccessRecord]:
    return inspection_records(
        letters, request_id="req-9", requester=OPERATOR.id, official="canbo.vanhanh", datasets=DATASETS
    )


def test_each_released_personal_record_in_a_collection_is_an_access() -> None:
    made = records([letter(1, "dossier.evidence.collected", COLLECTION)])
    assert [(r.dataset, r.subject) for r in made] == [
        ("citizen.identity", CITIZEN),
        ("vehicle.registration", OWNER),  # the holder named in the record, as the query recorded it
        ("removed.dataset", OTHER),  # no longer in the catalogue: recorded all the same
    ]
    first = made[0]
    assert (first.requester, first.official, first.official_basis, first.purpose, first.outcome) == (
        OPERATOR.id,
        "canbo.vanhanh",
        "asserted",  # the reading system's X-Official-Id: the record says it was not verified
        "dead_letter_inspection",
        "released",
    )
    assert (first.procedure, first.dossier, first.provider, first.request_id) == (
        "1.002861",
        "000.00.00.H49-261127-0001",
        "citizen",
        "req-9",
    )


def test_other_letters_and_repeats_make_no_more_records() -> None:
    status = letter(2, "dossier.status.changed", {"found": COLLECTION["found"]})
    broken = letter(3, "dossier.evidence.collected", {}, raw=b"not json")
    repeated = letter(4, "dossier.evidence.collected", COLLECTION)
    assert records([status, broken]) == []
    assert len(records([letter(1, "dossier.evidence.collected", COLLECTION), repeated])) == 3


class Audit:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.records: list[AccessRecord] = []

    async def record(self, records: Sequence[AccessRecord]) -> None:
        if self.fail:
            raise AuditUnavailable("the audit log could not be written")
        self.records += records


def bus(audit: Audit) -> Bus:
    nothing: Any = None
    return Bus(
        nothing, nothing, nothing, nothing, nothing, MemoryDeadLetters(), [], lambda name: None,
        audit=audit, reading=DeadLetterReading(lambda: DATASETS),  # type: ignore[arg-type]
    )  # fmt: skip


async def test_the_reading_is_recorded_before_the_letters_are_shown_or_they_are_withheld() -> None:
    audit = Audit()
    letters = [letter(1, "dossier.evidence.collected", COLLECTION)]
    await bus(audit).record_reading(OPERATOR, letters, official="canbo.vanhanh")
    assert len(audit.records) == 3 and len({r.request_id for r in audit.records}) == 1
    await bus(audit).record_reading(OPERATOR, [letter(2, "dossier.status.changed", {})])
    assert len(audit.records) == 3  # no personal data released by the bus: nothing to record
    with pytest.raises(AuditUnavailable):
        await bus(Audit(fail=True)).record_reading(OPERATOR, letters)
