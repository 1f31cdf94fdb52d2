"""Appending: placement, order, all-or-nothing, idempotent publish, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from adapters.embedded import EmbeddedLog
from adapters.embedded.codec import partition_for
from adapters.embedded.writer import Txn
from router.ports import AppendResult, Message, StoredMessage, TransportError

MakeLog = Callable[..., Awaitable[EmbeddedLog]]


async def read_all(log: EmbeddedLog, topic: str) -> dict[int, list[StoredMessage]]:
    ends = await log.end_offsets(topic)
    return {partition: await log.read(topic, partition, 0, end + 1) for partition, end in ends.items()}


async def install_failing_trigger(log: EmbeddedLog, key: str) -> None:
    """Makes SQLite itself refuse any message with this key (a stand-in for disk full and the like)."""

    def install(txn: Txn) -> None:
        txn.conn.execute(
            f"CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.msg_key = '{key}'"
            " BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END"
        )

    await log.run_in_writer(install)


async def test_messages_of_a_key_keep_their_order_in_one_partition(log: EmbeddedLog) -> None:
    keys = [f"dossier-{index}" for index in range(20)]
    for round_ in range(5):
        await log.append(
            "in", [Message(key, f"{key}:{round_}:{n}".encode()) for key in keys for n in range(3)]
        )
    stored = await read_all(log, "in")
    for key in keys:
        partition = partition_for(key, 8)
        values = [m.value.decode() for m in stored[partition] if m.key == key]
        assert values == [f"{key}:{round_}:{n}" for round_ in range(5) for n in range(3)]
        for other in stored.values():
            assert other is stored[partition] or all(m.key != key for m in other)


async def test_results_report_partition_and_consecutive_offsets(log: EmbeddedLog) -> None:
    first = await log.append("in", [Message("a", b"1"), Message("a", b"2"), Message("b", b"3")])
    second = await log.append("in", [Message("a", b"4")])
    pa, pb = partition_for("a", 8), partition_for("b", 8)
    assert first[0] == AppendResult(pa, 0)
    assert first[1] == AppendResult(pa, 1)
    assert first[2] == AppendResult(pb, 0 if pb != pa else 2)
    assert second[0].partition == pa
    assert second[0].offset == (2 if pb != pa else 3)
    assert (await log.read("in", pa, 0, 10))[-1].value == b"4"


async def test_append_creates_the_topic_with_the_default_partition_count(make_log: MakeLog) -> None:
    log = await make_log(default_partitions=3)
    await log.append("fresh", [Message("k", b"v")])
    assert set(await log.end_offsets("fresh")) == {0, 1, 2}


async def test_create_topic_keeps_an_existing_partition_count(log: EmbeddedLog) -> None:
    await log.create_topic("t", 4)
    await log.create_topic("t", 16)
    assert len(await log.end_offsets("t")) == 4


async def test_create_topic_rejects_bad_partition_counts(log: EmbeddedLog) -> None:
    for bad in (0, -1, 100_000):
        with pytest.raises(ValueError, match="partitions"):
            await log.create_topic("t", bad)


async def test_empty_append_returns_nothing(log: EmbeddedLog) -> None:
    assert await log.append("in", []) == []


async def test_sqlite_error_fails_the_whole_call_as_transport_error(log: EmbeddedLog) -> None:
    await log.create_topic("in", 8)
    await install_failing_trigger(log, "poison")
    batch = [Message("good", b"1", dedup_id="d1"), Message("poison", b"2"), Message("good", b"3")]
    with pytest.raises(TransportError, match="refused by test trigger"):
        await log.append("in", batch)
    assert sum((await log.end_offsets("in")).values()) == 0
    assert await read_all(log, "in") == {p: [] for p in range(8)}
    # The dedup id of the refused call was not recorded either.
    [result] = await log.append("in", [Message("good", b"1", dedup_id="d1")])
    assert result == AppendResult(partition_for("good", 8), 0)


async def test_a_failing_call_does_not_fail_the_calls_committed_with_it(log: EmbeddedLog) -> None:
    await log.create_topic("in", 8)
    await install_failing_trigger(log, "poison")
    calls = [log.append("in", [Message(f"k{n}", f"{n}".encode())]) for n in range(20)]
    calls.insert(7, log.append("in", [Message("k1", b"x"), Message("poison", b"y")]))
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert isinstance(outcomes[7], TransportError)
    assert all(isinstance(outcome, list) for index, outcome in enumerate(outcomes) if index != 7)
    stored = [m for ms in (await read_all(log, "in")).values() for m in ms]
    assert sorted(m.value for m in stored) == sorted(f"{n}".encode() for n in range(20))
    # Offsets were not consumed by the failed call: each partition is contiguous from 0.
    for partition, messages in (await read_all(log, "in")).items():
        assert [m.offset for m in messages] == list(range(len(messages))), partition


async def test_unencodable_key_is_refused_and_nothing_is_appended(log: EmbeddedLog) -> None:
    with pytest.raises(UnicodeEncodeError):
        await log.append("in", [Message("fine", b"1"), Message("\ud800", b"2")])
    assert sum((await log.end_offsets("in")).values()) == 0


async def test_duplicates_within_one_call(log: EmbeddedLog) -> None:
    results = await log.append(
        "in",
        [
            Message("k", b"1", dedup_id="x"),
            Message("k", b"2", dedup_id="x"),
            Message("j", b"3", dedup_id="y"),
        ],
    )
    assert results[0] == AppendResult(partition_for("k", 8), 0)
    assert results[1] == AppendResult(partition_for("k", 8), 0, duplicate=True)
    assert not results[2].duplicate
    assert sum((await log.end_offsets("in")).values()) == 2


async def test_duplicates_across_calls_report_the_original_position(log: EmbeddedLog) -> None:
    [original] = await log.append("in", [Message("k", b"1", dedup_id="src\nid-1")])
    [again] = await log.append("in", [Message("other-key", b"changed", dedup_id="src\nid-1")])
    assert again == AppendResult(original.partition, original.offset, duplicate=True)
    assert sum((await log.end_offsets("in")).values()) == 1


async def test_concurrent_duplicates_are_appended_once(log: EmbeddedLog) -> None:
    outcomes = await asyncio.gather(
        *(log.append("in", [Message("k", b"v", dedup_id="same")]) for _ in range(50))
    )
    assert sum(not result.duplicate for [result] in outcomes) == 1
    assert sum((await log.end_offsets("in")).values()) == 1


async def test_dedup_is_per_topic(log: EmbeddedLog) -> None:
    [a] = await log.append("one", [Message("k", b"v", dedup_id="id")])
    [b] = await log.append("two", [Message("k", b"v", dedup_id="id")])
    assert not a.duplicate
    assert not b.duplicate


async def test_messages_without_dedup_id_are_never_duplicates(log: EmbeddedLog) -> None:
    results = await log.append("in", [Message("k", b"v")] * 3)
    assert [r.duplicate for r in results] == [False] * 3
    assert [r.offset for r in results] == [0, 1, 2]


async def test_dedup_survives_restart(make_log: MakeLog) -> None:
    log = await make_log()
    [original] = await log.append("in", [Message("k", b"v", dedup_id="persisted")])
    await log.close()
    log = await make_log()
    [again] = await log.append("in", [Message("k", b"v", dedup_id="persisted")])
    assert again == AppendResult(original.partition, original.offset, duplicate=True)


async def test_timestamps_default_to_now_and_keep_given_ones(log: EmbeddedLog) -> None:
    await log.append("in", [Message("k", b"1"), Message("k", b"2", timestamp_ms=1234)])
    first, second = await log.read("in", partition_for("k", 8), 0, 10)
    assert first.timestamp_ms > 1_700_000_000_000
    assert second.timestamp_ms == 1234


async def test_large_messages(log: EmbeddedLog) -> None:
    big = bytes(range(256)) * 4096  # 1 MiB
    headers = (("ce_id", b"big"), ("blob", big[:65536]))
    await log.append("in", [Message("k", big, headers), Message("k", big[::-1])])
    first, second = await log.read("in", partition_for("k", 8), 0, 10)
    assert first.value == big
    assert first.headers == headers
    assert second.value == big[::-1]


async def test_many_partitions(log: EmbeddedLog) -> None:
    await log.create_topic("wide", 64)
    keys = [f"key-{index}" for index in range(1000)]
    results = await log.append("wide", [Message(key, key.encode()) for key in keys])
    assert {result.partition for result in results} == set(range(64))
    for key, result in zip(keys, results, strict=True):
        assert result.partition == partition_for(key, 64)
    stored = await read_all(log, "wide")
    assert sum(len(messages) for messages in stored.values()) == 1000
    for partition, messages in stored.items():
        assert all(partition_for(m.key, 64) == partition for m in messages)


async def test_headers_round_trip_through_the_log(log: EmbeddedLog) -> None:
    headers = (("ce_id", b"1"), ("ce_source", "urn:bộ".encode()), ("bin", b"\x00\xff\xfe\x80"), ("e", b""))
    await log.append("in", [Message("k", b"", headers)])
    [stored] = await log.read("in", partition_for("k", 8), 0, 1)
    assert stored.headers == headers
    assert stored.value == b""
    assert stored.header("bin") == b"\x00\xff\xfe\x80"


async def test_seen_answers_whether_a_dedup_id_was_appended(make_log: MakeLog) -> None:
    log = await make_log()
    assert not await log.seen("in", "d1")  # no such topic yet
    await log.append("in", [Message("k", b"1", dedup_id="d1"), Message("k", b"2")])
    assert await log.seen("in", "d1")
    assert not await log.seen("in", "d2") and not await log.seen("other", "d1")
    await log.close()
    reopened = await make_log()  # from the file, not the memory of a running log
    assert await reopened.seen("in", "d1")
