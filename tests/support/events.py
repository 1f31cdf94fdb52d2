"""Valid dossier events for tests, with a sequence number per dossier to check order."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from tests.support.bus import ONESTOP

AGENCY = "000.00.00.H49"


def dossier_code(number: int, agency: str = AGENCY) -> str:
    """The dossier code of the ``number``-th test dossier (daily sequences start at 0001)."""
    return f"{agency}-240502-{number + 1:04d}"


def status_changed(
    number: int,
    sequence: int,
    *,
    status: int = 4,
    source: str = ONESTOP,
    event_id: str | None = None,
    agency: str = AGENCY,
) -> dict[str, Any]:
    """A structured-mode ``dossier.status.changed``; ``sequence`` travels in the id and in ``note``."""
    code = dossier_code(number, agency)
    return {
        "specversion": "1.0",
        "id": event_id or f"{code}#{sequence}",
        "source": source,
        "type": "dossier.status.changed",
        "subject": code,
        "time": "2024-05-03T10:00:00+07:00",
        "datacontenttype": "application/json",
        "data": {
            "dossierCode": code,
            "agencyCode": agency,
            "status": status,
            "changedAt": "2024-05-03T10:00:00+07:00",
            "note": str(sequence),
        },
    }


def submitted(number: int, sequence: int, *, source: str = ONESTOP, agency: str = AGENCY) -> dict[str, Any]:
    """A structured-mode ``dossier.submitted``, numbered as :func:`status_changed` (same dossier,
    same subject); ``sequence`` travels in the id and in ``note``."""
    code = dossier_code(number, agency)
    return {
        "specversion": "1.0",
        "id": f"{code}#submitted-{sequence}",
        "source": source,
        "type": "dossier.submitted",
        "subject": code,
        "time": "2024-05-02T08:00:00+07:00",
        "datacontenttype": "application/json",
        "data": {
            "dossierCode": code,
            "agencyCode": agency,
            "procedureCode": "1.000894",
            "applicant": {"type": "citizen", "name": "Nguyễn Văn An", "personalId": "022089000001"},
            "submittedAt": "2024-05-02T08:00:00+07:00",
            "note": str(sequence),
        },
    }


def sequence_of(event: dict[str, Any]) -> tuple[str, int]:
    """(subject, sequence) of a delivered structured event."""
    return event["subject"], int(event["data"]["note"])


def delivered(received: list[Any]) -> list[dict[str, Any]]:
    """The events a receiver got, in arrival order, whatever the mode each request used."""
    from urllib.parse import unquote

    import orjson

    out: list[dict[str, Any]] = []
    for headers, body in received:
        content_type = headers.get("content-type", "")
        if content_type.startswith("application/cloudevents-batch+json"):
            out.extend(orjson.loads(body))
        elif content_type.startswith("application/cloudevents+json"):
            out.append(orjson.loads(body))
        else:
            event: dict[str, Any] = {k[3:]: unquote(v) for k, v in headers.items() if k.startswith("ce-")}
            event["data"] = orjson.loads(body) if body else None
            out.append(event)
    return out


def publish(client: httpx.Client, event: dict[str, Any]) -> httpx.Response:
    """``event`` published alone, in structured mode (``POST /v1/events``)."""
    return client.post(
        "/v1/events", content=orjson.dumps(event), headers={"Content-Type": "application/cloudevents+json"}
    )
