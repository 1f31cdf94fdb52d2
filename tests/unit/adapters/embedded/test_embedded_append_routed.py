"""Routing at publish: a published message and its routed copies in one transaction."""

from __future__ import annotations

import pytest

from adapters.embedded import EmbeddedLog
from adapters.embedded.codec import partition_for
from router.ports import Message, Routed, StoredMessage, TransportError
from tests.unit.adapters.embedded.test_embedded_append import install_failing_trigger, read_all


def copy_of(message: Message, *topics: str) -> Routed:
    return Routed(Message(message.key, b"copy:" + message.value, (("stamp", b"1"),)), topics)


def values(stored: dict[int, list[StoredMessage]]) -> list[bytes]:
    return [m.value for messages in stored.values() for m in messages]


async def test_copies_land_in_each_topic_in_order_and_the_group_moves_past(log: EmbeddedLog) -> None:
    published = [Message(f"subject-{n % 3}", str(n).encode(), dedup_id=f"src\n{n}") for n in range(9)]
    routed = [copy_of(m, "deliver.a", "deliver.b") if n % 2 == 0 else None for n, m in enumerate(published)]

    results = await log.append_routed("inbound", published, routed, "router")

    assert not any(result.duplicate for result in results)
    for topic in ("deliver.a", "deliver.b"):
        stored = await read_all(log, topic)
        for key in ("subject-0", "subject-1", "subject-2"):
            got = [m.value for m in stored[partition_for(key, 8)] if m.key == key]
            assert got == [
                b"copy:" + m.value for m, r in zip(published, routed, strict=True) if r and m.key == key
            ]
        assert all(m.headers == (("stamp", b"1"),) for m in (stored[p][0] for p in stored if stored[p]))
    ends = await log.end_offsets("inbound")
    committed = await log.committed_offsets("router", "inbound")
    assert committed == {p: end for p, end in ends.items() if end}


async def test_a_duplicate_adds_no_copy(log: EmbeddedLog) -> None:
    first = Message("subject", b"1", dedup_id="src\n1")
    await log.append_routed("inbound", [first], [copy_of(first, "deliver.a")], "router")

    again = await log.append_routed(
        "inbound",
        [first, Message("subject", b"2", dedup_id="src\n2")],
        [copy_of(first, "deliver.a"), copy_of(Message("subject", b"2"), "deliver.a")],
        "router",
    )

    assert [result.duplicate for result in again] == [True, False]
    assert values(await read_all(log, "deliver.a")) == [b"copy:1", b"copy:2"]


async def test_a_copy_that_fails_appends_nothing(log: EmbeddedLog) -> None:
    ok = Message("subject", b"1", dedup_id="src\n1")
    await log.append_routed("inbound", [ok], [copy_of(ok, "deliver.a")], "router")
    await install_failing_trigger(log, "refused")
    published = Message("subject", b"2", dedup_id="src\n2")
    refused_copy = Routed(Message("refused", b"copy:2"), ("deliver.a",))

    with pytest.raises(TransportError):
        await log.append_routed("inbound", [published], [refused_copy], "router")

    assert values(await read_all(log, "inbound")) == [b"1"]
    assert values(await read_all(log, "deliver.a")) == [b"copy:1"]
    assert not await log.seen("inbound", "src\n2")
    assert await log.committed_offsets("router", "inbound") == {partition_for("subject", 8): 1}
