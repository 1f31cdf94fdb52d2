"""Reading dead letters is an access when they hold personal data the bus released: its records.

A ``dossier.evidence.collected`` event carries, in ``found``, the records registries released
for a dossier (a citizen's identity, residence, vehicles...). When its delivery fails it waits
as a dead letter, and whoever lists the subscription's dead letters through the API (an operator,
the subscribing system: ``GET /v1/subscriptions/{name}/dead-letters``, ``lienthong dlq list``)
reads those records. So each record found in the letters returned is an access, written to the
audit log before they are returned: who is the reading system (and the official it names), whose
is the record's subject as the dataset's catalogue entry says (the same as the query that
released it), what is the dataset, why is ``dead_letter_inspection``. The person sees it in their
access report.

A dataset classed ``personal_data: none`` is no access. A dataset no longer in the catalogue
(removed by a reload since the letter was written) is taken as personal, its subject the first
key value: when in doubt, record. The console's dead-letter table shows no event data and is not
an access.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from router.audit import AccessRecord
from router.envelope import attributes_of
from router.evidence.catalogue import Dataset
from router.officials import ASSERTED
from router.ports import DeadLetter

COLLECTED = "dossier.evidence.collected"
PURPOSE = "dead_letter_inspection"
OUTCOME = "released"


def _event_data(letter: DeadLetter) -> Mapping[str, Any] | None:
    """The data of a letter whose event carries released records, else None."""
    if attributes_of(letter.message.headers).get("type") != COLLECTED or not letter.message.value:
        return None
    try:
        data = orjson.loads(letter.message.value)
    except orjson.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _subject(dataset: Dataset | None, key: Mapping[str, Any], record: Any) -> str:
    texts = {name: value for name, value in key.items() if isinstance(value, str)}
    if dataset is not None:
        return dataset.subject_of(texts, record if isinstance(record, dict) else None)
    return next(iter(texts.values()), "")


def inspection_records(
    letters: Sequence[DeadLetter],
    *,
    request_id: str,
    requester: str,
    official: str,
    datasets: Mapping[str, Dataset],
) -> list[AccessRecord]:
    """The accesses made by reading ``letters``: one per released record of a personal dataset,
    each once however many letters repeat it."""
    records: dict[AccessRecord, None] = {}
    for letter in letters:
        data = _event_data(letter)
        found = data.get("found") if data is not None else None
        if data is None or not isinstance(found, list):
            continue
        for item in found:
            if not isinstance(item, dict) or not isinstance(item.get("key"), dict):
                continue
            name = _text(item.get("dataset"))
            dataset = datasets.get(name)
            if dataset is not None and not dataset.personal:
                continue
            provenance = item.get("provenance")
            record = AccessRecord(
                request_id=request_id,
                requester=requester,
                official=official,
                # the X-Official-Id header of the reading system: no token is asked on this route
                official_basis=ASSERTED if official else "",
                dataset=name,
                subject=_subject(dataset, item["key"], item.get("data")),
                purpose=PURPOSE,
                procedure=_text(data.get("procedureCode")),
                dossier=_text(data.get("dossierCode")),
                outcome=OUTCOME,
                provider=_text(provenance.get("provider")) if isinstance(provenance, dict) else "",
            )
            records[record] = None
    return list(records)


class DeadLetterReading:
    """What the bus asks when dead letters are read: the accesses, under the catalogue in force."""

    def __init__(self, datasets: Callable[[], Mapping[str, Dataset]]) -> None:
        self._datasets = datasets

    def __call__(
        self, letters: Sequence[DeadLetter], *, request_id: str, requester: str, official: str
    ) -> list[AccessRecord]:
        return inspection_records(
            letters, request_id=request_id, requester=requester, official=official, datasets=self._datasets()
        )
