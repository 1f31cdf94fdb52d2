"""Building delivery-queue messages (Kafka binary mode) for tests."""

from __future__ import annotations

from typing import Any

from router.envelope import CloudEvent, to_message
from router.ports import StoredMessage


def stored(
    event_id: str,
    subject: str | None = "dossier-1",
    *,
    partition: int = 0,
    offset: int = 0,
    data: Any = None,
    event_type: str = "dossier.status.changed",
    source: str = "000.00.00.H49/motcua",
    timestamp_ms: int = 1_700_000_000_000,
    extensions: dict[str, str | int | bool] | None = None,
    extra_headers: tuple[tuple[str, bytes], ...] = (),
    topic: str = "deliver.test",
) -> StoredMessage:
    """One event as it sits on a delivery queue."""
    event = CloudEvent(
        id=event_id,
        source=source,
        type=event_type,
        subject=subject,
        time="2025-01-02T03:04:05+07:00",
        datacontenttype="application/json",
        data={"id": event_id} if data is None else data,
        extensions=dict(extensions or {}),
    )
    message = to_message(event)
    return StoredMessage(
        topic=topic,
        partition=partition,
        offset=offset,
        key=message.key,
        value=message.value,
        headers=message.headers + extra_headers,
        timestamp_ms=timestamp_ms,
    )


def partition_of(subjects: list[str], partitions: int) -> dict[str, int]:
    """A fixed spread of subjects over partitions (the transport's hash does not matter here)."""
    return {subject: index % partitions for index, subject in enumerate(subjects)}
