"""The provenance's texts: the retrieval time as datetime writes it, the request id as a UUID's."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

import pytest

from router.evidence.service import _new_request_id, _rfc3339


def _written_by_datetime(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.mark.parametrize(
    "epoch",
    [
        0.0,
        1_764_979_199.9999996,  # rounds up to the next second, and day
        1_764_979_199.9995,
        1_700_000_000.0005,
        1_700_000_000.0000005,  # half a microsecond: to even
        1_700_000_000.0000015,
        951_782_399.999,  # 29 February 2000 ends
        4_102_444_799.9994,
    ],
)
def test_retrieval_time_as_datetime_writes_it(epoch: float) -> None:
    assert _rfc3339(epoch) == _written_by_datetime(epoch)


def test_retrieval_times_in_any_order_as_datetime_writes_them() -> None:
    choices = random.Random(21)
    epochs = [choices.uniform(0, 4e9) for _ in range(2000)]
    epochs += [e + choices.random() / 1000 for e in sorted(epochs)[:500] for _ in range(2)]
    assert [_rfc3339(e) for e in epochs] == [_written_by_datetime(e) for e in epochs]


def test_request_id_is_a_random_uuid_in_hex() -> None:
    ids = [_new_request_id() for _ in range(200)]
    for found in ids:
        parsed = uuid.UUID(hex=found)
        assert (parsed.version, parsed.variant, parsed.hex) == (4, uuid.RFC_4122, found)
    assert len(set(ids)) == len(ids)
