"""Routing at publish: a published message and its routed copies in one transaction."""

from __future__ import annotations

import pytest

from adapters.embedded import EmbeddedLog
from adapters.embedded.codec import partition_for
from adapters.embedded.writer import Txn
from router.ports import Message, Routed, StoredMessage, TransportError
from tests.unit.adapters.embedded.test_embedded_append import read_all

STAMP = (("stamp", b"1"),)


def values(stored: dict[int, list[StoredMessage]]) -> list[bytes]:
    return [m.value for messages in stored.values() for m in messages]


async def test_copies_land_in_each_topic_in_order_and_the_group_moves_past(log: EmbeddedLog) -> None:
    published = [
        Message(f"subject-{n % 3}", str(n).encode(), (("ce_id", str(n).encode()),), f"src\n{n}")
        for n in range(9)
    ]
    routed = [Routed(STAMP, ("deliver.a", "deliver.b")) if n % 2 == 0 else None for n in range(9)]

    results = await log.append_routed("inbound", published, routed, "router")

    assert not any(result.duplicate for result in results)
    for topic in ("deliver.a", "deliver.b"):
        stored = await read_all(log, topic)
        for key in ("subject-0", "subject-1", "subject-2"):
            got = [m.value for m in stored[partition_for(key, 8)] if m.key == key]
            assert got == [m.value for m, r in zip(published, routed, strict=True) if r and m.key == key]
        for messages in stored.values():
            for message in messages:
                assert message.headers == (("ce_id", message.value), *STAMP)
    ends = await log.end_offsets("inbound")
    assert await log.committed_offsets("router", "inbound") == {p: end for p, end in ends.items() if end}


async def test_a_duplicate_adds_no_copy(log: EmbeddedLog) -> None:
    first = Message("subject", b"1", dedup_id="src\n1")
    await log.append_routed("inbound", [first], [Routed(STAMP, ("deliver.a",))], "router")

    again = await log.append_routed(
        "inbound",
        [first, Message("subject", b"2", dedup_id="src\n2")],
        [Routed(STAMP, ("deliver.a",)), Routed(STAMP, ("deliver.a",))],
        "router",
    )

    assert [result.duplicate for result in again] == [True, False]
    assert values(await read_all(log, "deliver.a")) == [b"1", b"2"]


async def test_a_copy_that_fails_appends_nothing(log: EmbeddedLog) -> None:
    ok = Message("subject", b"1", dedup_id="src\n1")
    await log.append_routed("inbound", [ok], [Routed(STAMP, ("deliver.a",))], "router")

    def refuse_copies(txn: Txn) -> None:  # SQLite itself refuses them (a stand-in for a full disk)
        txn.conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN instr(NEW.headers, 'refused') > 0"
            " BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
        )

    await log.run_in_writer(refuse_copies)
    published = Message("subject", b"2", dedup_id="src\n2")

    with pytest.raises(TransportError):
        await log.append_routed(
            "inbound", [published], [Routed((("stamp", b"refused"),), ("deliver.a",))], "router"
        )

    assert values(await read_all(log, "inbound")) == [b"1"]
    assert values(await read_all(log, "deliver.a")) == [b"1"]
    assert not await log.seen("inbound", "src\n2")
    assert await log.committed_offsets("router", "inbound") == {partition_for("subject", 8): 1}
